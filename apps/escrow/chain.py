"""The JSON-RPC node and the contract artifacts: every call the escrow app makes to the chain goes through here.

`Rpc` is a thin client over web3's HTTP provider (no automatic retries: the outbox retries with backoff and keeps
the last error). Transport failures raise ChainUnavailable, JSON-RPC errors RpcError (with the node's code,
message and revert data), so callers can tell "the node is down" from "the node said no".
"""

import functools
import json
from dataclasses import dataclass

import requests
from django.conf import settings
from eth_abi import decode as abi_decode
from eth_abi.decoding import ContextFramesBytesIO
from eth_abi.exceptions import DecodingError
from eth_abi.registry import registry as abi_registry
from eth_utils import keccak, to_checksum_address
from web3 import HTTPProvider, Web3

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ARTIFACTS_DIR = settings.BASE_DIR / "contracts" / "build"


class ChainError(Exception):
    """Anything that went wrong talking to the node; `str()` is what the ChainTx's last_error shows."""


class ChainUnavailable(ChainError):
    """The node could not be reached or did not answer (connection refused, timeout, HTTP 5xx)."""


class RpcError(ChainError):
    def __init__(self, method: str, code, message: str, data=None):
        self.method, self.code, self.message, self.data = method, code, message or "", data
        detail = f" ({revert_reason(data)})" if isinstance(data, str) and data.startswith("0x") else ""
        super().__init__(f"{method}: {self.message}{detail} [code {code}]")


class WrongChain(ChainError):
    pass


@functools.cache
def artifact(name: str) -> dict:
    return json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())


@functools.cache
def contract_abi(name: str):
    """A web3 contract class (no address) of a build artifact, for encoding calls."""
    return Web3().eth.contract(abi=artifact(name)["abi"])


def encode_call(name: str, function: str, args: list) -> str:
    return contract_abi(name).encode_abi(function, args=args)


def encode_deploy(name: str, args: list) -> str:
    art = artifact(name)
    return Web3().eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args).data_in_transaction


@dataclass(frozen=True)
class EventSpec:
    name: str
    indexed: tuple  # ((name, type), ...) in topic order
    data: tuple  # ((name, type), ...) in data order

    @property
    def fields(self) -> tuple:
        return self.indexed + self.data


def _signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"


@functools.cache
def event_specs() -> dict[str, EventSpec]:
    """topic0 (0x hex) -> the names and ABI types of that MilestoneEscrow event's topics and data."""
    specs = {}
    for entry in artifact("MilestoneEscrow")["abi"]:
        if entry["type"] != "event":
            continue
        indexed = tuple((i["name"], i["type"]) for i in entry["inputs"] if i["indexed"])
        data = tuple((i["name"], i["type"]) for i in entry["inputs"] if not i["indexed"])
        specs["0x" + keccak(text=_signature(entry)).hex()] = EventSpec(entry["name"], indexed, data)
    return specs


@functools.cache
def error_specs() -> dict[str, tuple[str, list[str], list[str]]]:
    """4-byte selector (0x hex) -> (name, arg names, arg types) of the contract's custom errors."""
    specs = {}
    for name in ("MilestoneEscrow", "MockERC20"):
        for entry in artifact(name)["abi"]:
            if entry["type"] == "error":
                selector = "0x" + keccak(text=_signature(entry))[:4].hex()
                specs[selector] = (
                    entry["name"],
                    [i["name"] for i in entry["inputs"]],
                    [i["type"] for i in entry["inputs"]],
                )
    return specs


@functools.lru_cache(maxsize=4096)
def checksummed(address: str) -> str:
    """Checksumming hashes the address: the few parties of a contract's events are done once."""
    return to_checksum_address(address)


@functools.cache
def _event_decoders(topic0: str) -> tuple:
    """eth_abi's decoders of one event's indexed words and data, built once from the ABI types."""
    spec = event_specs()[topic0]
    return (
        abi_registry.get_tuple_decoder(*[kind for _, kind in spec.indexed]),
        abi_registry.get_tuple_decoder(*[kind for _, kind in spec.data]),
    )


def decode_log(log: dict) -> tuple[str, dict] | None:
    """(event name, args) of a MilestoneEscrow log, decoded by eth_abi from the committed ABI (the indexed words of
    the topics as one tuple, the data as another); None for a log of another event or one that does not decode."""
    topics = log["topics"]
    spec = event_specs().get(topics[0]) if topics else None
    if spec is None or len(topics) != 1 + len(spec.indexed):
        return None
    decode_indexed, decode_data = _event_decoders(topics[0])
    try:
        indexed = decode_indexed(ContextFramesBytesIO(bytes.fromhex("".join(t[2:] for t in topics[1:]))))
        data = decode_data(ContextFramesBytesIO(bytes.fromhex(log["data"][2:])))
    except (DecodingError, ValueError):
        return None
    values = indexed + data
    return spec.name, {name: _plain(value, kind) for (name, kind), value in zip(spec.fields, values, strict=True)}


def _plain(value, kind: str):
    if kind.endswith("[]"):
        return [_plain(v, kind[:-2]) for v in value]
    if kind == "address":
        return checksummed(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def revert_reason(data: str | None) -> str:
    """A custom error as `Name(arg=value, ...)`, Error(string) as its text; the raw data otherwise."""
    if not data or len(data) < 10:
        return "reverted without a reason"
    selector, body = data[:10], bytes.fromhex(data[10:])
    if selector == "0x08c379a0":  # Error(string)
        return abi_decode(["string"], body)[0]
    spec = error_specs().get(selector)
    if spec is None:
        return f"reverted with {data[:74]}"
    name, names, types = spec
    try:
        values = abi_decode(types, body)
    except Exception:  # data that does not match the ABI: show it raw rather than fail
        return f"{name}({data[10:74]})"
    args = ", ".join(f"{n}={_plain(v, t)}" for n, v, t in zip(names, values, types, strict=True))
    return f"{name}({args})"


class Rpc:
    """JSON-RPC calls to the node at ETH_RPC_URL (or `url`)."""

    def __init__(self, url: str | None = None, timeout: float | None = None):
        self.url = url or settings.ETH_RPC_URL
        if not self.url:
            raise ChainUnavailable("ETH_RPC_URL is not set: no chain node is configured.")
        timeout = timeout if timeout is not None else settings.ESCROW_RPC_TIMEOUT_SECONDS
        self.provider = HTTPProvider(self.url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)

    def call(self, method: str, *params):
        try:
            response = self.provider.make_request(method, list(params))
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ChainUnavailable(
                f"{method}: the node at {self.url} did not answer ({exc.__class__.__name__})."
            ) from exc
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise ChainUnavailable(f"{method}: the node at {self.url} answered HTTP {status}.") from exc
        except (ValueError, OSError) as exc:  # a body that is not JSON-RPC, a socket error
            raise ChainUnavailable(f"{method}: bad answer from {self.url}: {exc}"[:500]) from exc
        if response.get("error"):
            error = response["error"]
            if isinstance(error, dict):
                raise RpcError(method, error.get("code"), error.get("message", ""), error.get("data"))
            raise RpcError(method, None, str(error))
        return response.get("result")

    # --- the calls the app makes -----------------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def block(self, number: int | str) -> dict | None:
        tag = hex(number) if isinstance(number, int) else number
        return self.call("eth_getBlockByNumber", tag, False)

    def block_hash(self, number: int) -> str | None:
        block = self.block(number)
        return block["hash"] if block else None

    def nonce(self, address: str, tag: str = "pending") -> int:
        return int(self.call("eth_getTransactionCount", address, tag), 16)

    def code(self, address: str) -> str:
        return self.call("eth_getCode", address, "latest")

    def fee_history(self, blocks: int = 10, percentile: int = 50) -> dict:
        return self.call("eth_feeHistory", hex(blocks), "latest", [percentile])

    def estimate_gas(self, tx: dict) -> int:
        return int(self.call("eth_estimateGas", tx), 16)

    def eth_call(self, tx: dict, block="latest") -> str:
        return self.call("eth_call", tx, hex(block) if isinstance(block, int) else block)

    def send_raw(self, raw: str) -> str:
        return self.call("eth_sendRawTransaction", raw)

    def receipt(self, tx_hash: str) -> dict | None:
        return self.call("eth_getTransactionReceipt", tx_hash)

    def transaction(self, tx_hash: str) -> dict | None:
        return self.call("eth_getTransactionByHash", tx_hash)

    def logs(self, address: str, from_block: int, to_block: int) -> list[dict]:
        return self.call("eth_getLogs", {"address": address, "fromBlock": hex(from_block), "toBlock": hex(to_block)})


def require_chain(rpc: Rpc) -> int:
    """The node's chain id, or WrongChain when it is not ETH_CHAIN_ID (nothing may be sent to it)."""
    node_chain = rpc.chain_id()
    if node_chain != settings.ETH_CHAIN_ID:
        raise WrongChain(
            f"Refused: the node at {rpc.url} is chain {node_chain}, but ETH_CHAIN_ID is {settings.ETH_CHAIN_ID}. "
            "Nothing was sent; point ETH_RPC_URL at the right network (or correct ETH_CHAIN_ID)."
        )
    return node_chain
