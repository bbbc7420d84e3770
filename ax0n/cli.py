"""`ax0n`: the command line for the local devnet."""

from __future__ import annotations

import asyncio
import signal
import time

import redis
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, CliApp, CliSubCommand, SettingsConfigDict
from tqdm import tqdm

from ax0n.devnet.redis import RedisServer
from ax0n.devnet.services import SERVICES, ServiceProcess


def redis_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


class Demo(BaseModel):
    """Start redis-server (if none answers at --redis-url) and every ax0n service, show them healthy, and
    stop them all on Ctrl-C (or after --duration seconds)."""

    redis_url: str = Field("redis://127.0.0.1:6379/0", description="use this Redis if it answers")
    duration: float = Field(0.0, description="seconds to keep running; 0 runs until Ctrl-C")

    def cli_cmd(self) -> None:
        own_redis = None
        url = self.redis_url
        if not redis_reachable(url):
            own_redis = RedisServer(aof=True).start()
            url = own_redis.url
            print(f"started redis-server (AOF) at {url}")
        else:
            print(f"using Redis at {url}")
        running: list[ServiceProcess] = []
        try:
            for name in tqdm(SERVICES, desc="starting services", unit="service"):
                running.append(ServiceProcess(name, url).start())
            print(f"{'service':<10} {'gRPC':<18} {'metrics':<8} health")
            for svc in running:
                state = "SERVING" if svc.healthy() else "NOT SERVING"
                print(f"{svc.name:<10} {svc.target:<18} {svc.metrics_port!s:<8} {state}")
            print("all services healthy; Ctrl-C stops them" if not self.duration else f"running {self.duration}s")
            _wait(self.duration)
        finally:
            for svc in reversed(running):
                code = svc.terminate()
                print(f"stopped ax0n-{svc.name} (exit {code})")
            if own_redis is not None:
                own_redis.close()
                print("stopped redis-server")


def _wait(duration: float) -> None:
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if duration:
            loop.call_later(duration, stop.set)
        await stop.wait()

    started = time.monotonic()
    asyncio.run(run())
    print(f"\nshutting down after {time.monotonic() - started:.1f}s")


class Ax0n(BaseSettings):
    """ax0n: verifiable AI inference. Commands for the local devnet."""

    model_config = SettingsConfigDict(cli_kebab_case=True, cli_prog_name="ax0n")

    demo: CliSubCommand[Demo]

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)


def main(argv: list[str] | None = None) -> None:
    CliApp.run(Ax0n, cli_args=argv)
