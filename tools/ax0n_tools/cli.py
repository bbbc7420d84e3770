"""`ax0n`: the command line for the local devnet."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, CliApp, CliSubCommand, SettingsConfigDict

from ax0n_tools.devnet import control


def _print_rows(rows: list[tuple[str, str, str]]) -> None:
    for component, address, state in rows:
        print(f"{component:<16} {address:<32} {state}")


class Up(BaseModel):
    """Start redis-server, anvil and every ax0n service in the background."""

    def cli_cmd(self) -> None:
        state = control.up()
        _print_rows(control.status())
        print(f"models           {state.llm_model} (LLM tier), {state.zk_model} (zk tier)")
        print(f"client key       {state.client_key_file} (funded escrow; never printed)")
        print(f"state and logs   {control.STATE_DIR} (state.json, logs/)")
        print("devnet is up; `ax0n devnet down` stops it")


class Down(BaseModel):
    """Stop the running devnet."""

    def cli_cmd(self) -> None:
        print("devnet stopped" if control.down() else "no devnet is running")


class Status(BaseModel):
    """Show the running devnet's components and their health."""

    def cli_cmd(self) -> None:
        rows = control.status()
        _print_rows(rows) if rows else print("no devnet is running; `ax0n devnet up` starts one")


class Devnet(BaseModel):
    """The local devnet: redis-server, anvil with contracts, every ax0n service."""

    up: CliSubCommand[Up] = Field(description="start the devnet in the background (progress shown)")
    down: CliSubCommand[Down] = Field(description="stop the running devnet")
    status: CliSubCommand[Status] = Field(description="show each component and its gRPC health")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)


class Demo(BaseModel):
    """Start a devnet, run the SDK example on both model tiers (output, proof, certificate, settlement tx, a
    streamed answer), and stop the devnet (what `make demo` runs)."""

    def cli_cmd(self) -> None:
        from ax0n_tools.devnet import demo
        from ax0n_tools.devnet.network import Devnet as Network

        with Network() as net:
            assert net.state is not None
            for component, address, state in control.rows(net.state):
                print(f"{component:<16} {address:<32} {state}")
            stages = demo.run(net.state)
        print("\n== what ran")
        for stage, outcome in stages.items():
            print(f"{stage:<10} {outcome}")
        if any("failed" in outcome or "not settled" in outcome for outcome in stages.values()):
            raise SystemExit(1)


class Build(BaseModel):
    """Build every service image with podman from docker/ (a local Debian base where none can be pulled)."""

    def cli_cmd(self) -> None:
        from ax0n_tools import images

        try:
            names = images.build_all()
        except images.ImageError as exc:
            raise SystemExit(f"ax0n images build: {exc}") from None
        print("\n".join(names))


class Images(BaseModel):
    """The service container images (podman)."""

    build: CliSubCommand[Build] = Field(description="build the five service images (progress shown)")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)


class Ax0n(BaseSettings):
    """ax0n: verifiable AI inference."""

    model_config = SettingsConfigDict(cli_kebab_case=True, cli_prog_name="ax0n")

    devnet: CliSubCommand[Devnet] = Field(description="the local devnet: up, down, status")
    demo: CliSubCommand[Demo] = Field(description="devnet + the SDK example on both tiers, end to end (`make demo`)")
    images: CliSubCommand[Images] = Field(description="the service images: build them with podman (`make images`)")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)


def main(argv: list[str] | None = None) -> None:
    CliApp.run(Ax0n, cli_args=argv)
