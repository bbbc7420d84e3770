"""Start the npm-installed anvil (contracts/node_modules) on a free port and stop it on exit.

with Anvil() as chain:
    chain.web3.eth.block_number
    chain.rpc_url            # http://127.0.0.1:PORT
    chain.accounts[0]        # funded dev account (address, private key)
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from web3 import HTTPProvider, Web3

from ax0n_tools.devnet.ports import stop_process

CONTRACTS_DIR = Path(__file__).resolve().parents[3] / "contracts"
_LISTENING = re.compile(rb"Listening on (\d+\.\d+\.\d+\.\d+):(\d+)")
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def tool_path(tool: str) -> Path:
    """Path of a Foundry binary (anvil, forge, cast): $AX0N_<TOOL>, then contracts/node_modules, then PATH."""
    override = os.environ.get(f"AX0N_{tool.upper()}")
    if override:
        return Path(override)
    local = CONTRACTS_DIR / "node_modules" / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool
    if local.exists():
        return local
    found = shutil.which(tool)
    if found is None:
        raise FileNotFoundError(f"{tool} not found: run `make setup` (npm ci in contracts/)")
    return Path(found)


@dataclass(frozen=True, slots=True)
class DevAccount:
    address: str
    key: str


def dev_account(i: int) -> DevAccount:
    """Funded dev account `i` of every anvil started here (its default mnemonic, m/44'/60'/0'/0/i)."""
    Account.enable_unaudited_hdwallet_features()
    acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
    return DevAccount(acct.address, acct.key.to_0x_hex())


class Anvil:
    """An anvil child process on 127.0.0.1 and a free port (automine unless `block_time` is given)."""

    def __init__(
        self,
        *,
        accounts: int = 10,
        balance_eth: int = 10_000,
        block_time: float | None = None,
        chain_id: int = 31337,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.n_accounts = accounts
        self.balance_eth = balance_eth
        self.block_time = block_time
        self.chain_id = chain_id
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._log: list[bytes] = []

    @property
    def rpc_url(self) -> str:
        if self.port is None:
            raise RuntimeError("anvil is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def web3(self) -> Web3:
        return Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 60}))

    @functools.cached_property
    def accounts(self) -> list[DevAccount]:
        """The funded dev accounts (anvil's default mnemonic, derivation m/44'/60'/0'/0/i)."""
        return [dev_account(i) for i in range(self.n_accounts)]

    def start(self, timeout: float = 30.0) -> Anvil:
        args = [
            str(tool_path("anvil")),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--accounts",
            str(self.n_accounts),
            "--balance",
            str(self.balance_eth),
            "--chain-id",
            str(self.chain_id),
            "--mnemonic",
            DEV_MNEMONIC,
            *(["--block-time", str(self.block_time)] if self.block_time else []),
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        found = threading.Event()

        def read() -> None:  # keep draining stdout so anvil never blocks on a full pipe
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                if not found.is_set():
                    self._log.append(line)
                    match = _LISTENING.search(line)
                    if match:
                        self.port = int(match.group(2))
                        found.set()

        threading.Thread(target=read, name="anvil-stdout", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("anvil did not start: " + b"".join(self._log).decode(errors="replace")[-2000:])
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.port = None

    def increase_time(self, seconds: int, mine: bool = True) -> None:
        """Move the chain clock forward (evm_increaseTime), mining a block by default."""
        self.web3.provider.make_request("evm_increaseTime", [seconds])
        if mine:
            self.mine()

    def mine(self, blocks: int = 1) -> None:
        self.web3.provider.make_request("anvil_mine", [hex(blocks)])

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
