"""The seed's SDK example against a running devnet (what `ax0n demo` and `make demo` run after `Devnet.start()`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3

from ax0n.chain.deploy import Manifest
from ax0n.sdk import Ax0nClient, Ax0nError, ChainCheck, ChainRegistry, InferenceResult, Verifier
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2
from ax0n_tools.devnet.network import DevnetState

LLM_QUESTION = "What is a zero-knowledge proof? Answer in one sentence."
ZK_FEATURES = "[3, 14, 15, 92, 65, 35, 89, 79, -32, -38, 46, 26, -43, 38, 32, 79]"  # 16 int8 features
SETTLEMENT_WAIT_S = 90.0
DEADLINE_S = 120  # the signed deadline: the certificate must be formed by then


def client_options(state: DevnetState) -> dict[str, Any]:
    """Options of a verifying SDK client of the devnet's router, paying from the provisioned client's escrow."""
    w3 = Web3(HTTPProvider(state.rpc_url))
    registry = ChainRegistry(w3, Manifest.load(Path(state.deployment)))
    verifier = Verifier(
        validator_sets=registry.validator_sets,
        params=DEVNET,
        chain=ChainCheck(w3, state.settlement),
        operator_of=registry.operator_of,
    )
    return {
        "private_key": Path(state.client_key_file).read_text().strip(),
        "chain_id": state.chain_id,
        "settlement": state.settlement,
        "verify": True,
        "verifier": verifier,
        "deadline_s": DEADLINE_S,
        "settler": state.settler_target,
    }


def client_for(state: DevnetState, **overrides: Any) -> Ax0nClient:
    """A verifying blocking SDK client of the devnet (`AsyncAx0nClient` takes the same `client_options`)."""
    return Ax0nClient(state.router_target, **{**client_options(state), **overrides})


def _show(label: str, result: InferenceResult) -> None:
    print(f"\n== {label}: {result.request.model_id}")
    print(f"output       {result.output!r}")
    proof = result.proof
    if isinstance(proof, bytes):
        print(f"proof        0x{proof.hex()}  ({len(proof)}-byte Groth16 envelope)")
    elif isinstance(proof, types_pb2.Fingerprint):
        chunks = b"".join(bytes(c) for c in proof.chunks)
        print(f"proof        fingerprint {proof.encoding}, {len(proof.chunks)} chunk(s): 0x{chunks.hex()[:128]}…")
    cert = result.certificate
    if cert is not None:
        verdict = types_pb2.Verdict.Name(cert.verdict)
        signers = sum(bin(b).count("1") for b in bytes(cert.signers))
        print(f"certificate  {verdict}, {signers} signer(s), snapshot block {cert.snapshot_block}")
        print(f"             aggregate signature 0x{bytes(cert.aggregate_signature).hex()}")
    if result.verification is not None:
        print(f"verified     {', '.join(result.verification.checked)}")


def run(state: DevnetState) -> dict[str, str]:
    """Infer on both tiers, wait for settlement, then stream; returns what ran, stage by stage."""
    stages: dict[str, str] = {}
    with client_for(state) as client:
        for label, model, request in (
            ("LLM tier", state.llm_model, {"messages": [{"role": "user", "content": LLM_QUESTION}], "max_tokens": 48}),
            ("zk tier", state.zk_model, {"prompt": ZK_FEATURES, "max_tokens": 1}),
        ):
            try:
                result = client.infer(model=model, **request)
            except Ax0nError as exc:
                print(f"\n== {label}: {model}: FAILED: {exc}")
                stages[label] = f"failed: {exc}"
                continue
            _show(label, result)
            stages[label] = "inferred, verified"
            try:
                settled = client.check(client.wait_for_settlement(result, SETTLEMENT_WAIT_S))
            except Ax0nError as exc:
                print(f"settlement   not settled: {exc}")
                stages[label] += f"; not settled: {exc}"
                continue
            s = settled.settlement
            assert s is not None
            print(
                f"settlement   tx {settled.tx_hash} (batch {s.batch_seq}, block {s.block_number}, leaf {s.leaf_index})"
            )
            print("committee    the validators checked every receipt's certificate and BLS-signed the batch root;")
            print("             Settlement verified their aggregate signature and the batch proof on-chain")
            v = settled.verification
            if v is not None and v.unchecked:
                print(f"not checked  {'; '.join(v.unchecked)}")
            checked = v is not None and "settlement" in v.checked
            stages[label] += ", settled" + (" (inclusion, batch proof and L1 transaction checked)" if checked else "")
        print(f"\n== streamed ({state.llm_model})")
        stream = client.stream(
            model=state.llm_model, messages=[{"role": "user", "content": "Name three colours."}], max_tokens=32
        )
        for chunk in stream:
            print(chunk.delta, end="", flush=True)
        print()
        stages["stream"] = "streamed, verified" if stream.result and stream.result.verification else "streamed"
    return stages
