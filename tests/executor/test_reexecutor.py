"""LLM-tier re-execution on a validator's own compute: in-process (`local_reexecutor`) and the validator
operator's `ax0n-reexecutor` service over real gRPC. The executor no longer grades receipts at all."""

from __future__ import annotations

import time

import grpc
import pytest
from ax0n_executor.executor import Executor
from ax0n_validator.checks import grpc_reexecutor, local_reexecutor
from ax0n_validator.reexecutor import ReexecutorServicer, ReexecutorSettings

from ax0n.llm.engine import Engine
from ax0n.runtime.calls import signed
from ax0n.spec import calls
from ax0n.v1 import executor_pb2, types_pb2, validator_pb2, validator_pb2_grpc
from tests.clients import CALLER, CALLER_KEY, STRANGER_KEY
from tests.executor.conftest import make_request


def proved(executor: Executor, prompt: str, nonce: int) -> types_pb2.ProvedReceipt:
    req = make_request(prompt, max_tokens=33, nonce=nonce)
    receipt, output = executor.execute(req)
    return types_pb2.ProvedReceipt(request=req, receipt=receipt, output=output)


def test_executors_no_longer_serve_reexecute() -> None:
    assert "ReexecuteRequest" not in executor_pb2.DESCRIPTOR.message_types_by_name
    assert [m.name for m in executor_pb2.DESCRIPTOR.services_by_name["Executor"].methods] == ["Status", "ServedModels"]


async def test_in_process_reexecution_accepts_honest_and_rejects_a_changed_output(executor: Executor, tiny: Engine):
    check = local_reexecutor({"tiny": tiny})
    item = proved(executor, "In process", 700)
    assert (await check(item)).ok
    item.output = item.output + "!"
    finding = await check(item)
    assert not finding.ok and "output hash" in finding.reason
    item = proved(executor, "Unknown model", 701)
    item.receipt.model_id = "gpt-7"
    assert "not loaded for re-execution" in (await check(item)).reason


async def test_reexecutor_service_over_grpc(executor: Executor, tiny: Engine) -> None:
    server = grpc.aio.server()
    servicer = ReexecutorServicer(ReexecutorSettings(allowed_callers=CALLER), {"tiny": tiny})
    validator_pb2_grpc.add_ReexecutorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        remote = grpc_reexecutor(f"127.0.0.1:{port}", CALLER_KEY)
        honest = proved(executor, "Over gRPC", 702)
        assert (await remote(honest)).ok
        honest.output = "x"
        assert "output hash" in (await remote(honest)).reason
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = validator_pb2_grpc.ReexecutorStub(channel)
            item = proved(executor, "Margins", 703)
            ask = validator_pb2.ReexecuteRequest(request=item.request, receipt=item.receipt, output=item.output)
            for key, code in ((None, "UNAUTHENTICATED"), (STRANGER_KEY, "PERMISSION_DENIED")):
                with pytest.raises(grpc.aio.AioRpcError) as unallowed:  # a free prefill for anyone: refused
                    await stub.Reexecute(ask, metadata=signed(key, "Reexecute", ask) if key else None)
                assert unallowed.value.code().name == code
            stale = calls.sign_call(CALLER_KEY, "Reexecute", ask, int(time.time() * 1000) - 60_000)
            with pytest.raises(grpc.aio.AioRpcError) as replayed:
                await stub.Reexecute(ask, metadata=stale)
            assert replayed.value.code() == grpc.StatusCode.UNAUTHENTICATED
            reply = await stub.Reexecute(ask, metadata=signed(CALLER_KEY, "Reexecute", ask))
            assert reply.valid and reply.margins["mant_mean_max"] <= reply.margins["tol_mant_mean"]
            item.receipt.model_id = "gpt-7"
            with pytest.raises(grpc.aio.AioRpcError) as err:
                ask = validator_pb2.ReexecuteRequest(request=item.request, receipt=item.receipt, output=item.output)
                await stub.Reexecute(ask, metadata=signed(CALLER_KEY, "Reexecute", ask))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND and "gpt-7" in (err.value.details() or "")
    finally:
        await server.stop(None)
