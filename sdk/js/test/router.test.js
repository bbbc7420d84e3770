// The TypeScript SDK against the real ax0n router (HTTP API) over a real redis-server.
// `python -m tests.sdk.serve` starts them, with a test-side stand-in for executor, prover and quorum
// (see tests/sdk/mesh.py); this test talks to the router only over HTTP.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { dirname, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  AuthenticationError,
  Ax0nClient,
  InvalidRequestError,
  NotFoundError,
  PreconditionError,
  digest,
  promptHash,
} from "../dist/index.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const PYTHON = process.env.AX0N_PYTHON ?? resolve(ROOT, ".venv/bin/python");

let server;
let info;

before(async () => {
  server = spawn(PYTHON, ["-m", "tests.sdk.serve"], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: server.stdout });
  info = await new Promise((ok, fail) => {
    server.once("exit", (code) => fail(new Error(`tests.sdk.serve exited with ${code}`)));
    lines.once("line", (line) => ok(JSON.parse(line)));
  });
});

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((ok) => server.once("exit", ok));
    server.stdin.end();
    await exited;
  }
});

const signed = () => new Ax0nClient({ baseURL: info.http, privateKey: info.privateKey, chainId: info.chainId });

test("signing matches ax0n.spec.request byte for byte", () => {
  const fields = {
    modelId: "echo-llm",
    prompt: "",
    messages: [{ role: "user", content: 'héllo "wörld"\n\t\u0001 ✓' }],
    sampling: { greedy: false, temperature: 0.7, topP: 0.9, topK: 0, stop: ["\n\n"] },
    maxTokens: 32,
    maxLatencyMs: 5000,
    feeCap: 123456789012345678901234567890n,
    nonce: 2n ** 63n - 5n,
    deadline: 1_900_000_000n,
    chainId: 31337n,
    settlement: "0x00000000000000000000000000000000000000a5",
  };
  const script = `
import json, sys
from ax0n.spec import request
from ax0n.v1 import types_pb2
d = json.loads(sys.stdin.read())
r = types_pb2.InferenceRequest(model_id=d["modelId"], max_tokens=d["maxTokens"], max_latency_ms=d["maxLatencyMs"],
    fee_cap=d["feeCap"], nonce=int(d["nonce"]), deadline=int(d["deadline"]), chain_id=int(d["chainId"]),
    settlement=bytes.fromhex(d["settlement"][2:]))
for m in d["messages"]:
    r.messages.add(role=m["role"], content=m["content"])
s = d["sampling"]
r.sampling.greedy, r.sampling.temperature, r.sampling.top_p = s["greedy"], s["temperature"], s["topP"]
r.sampling.stop.extend(s["stop"])
r.prompt_hash = request.prompt_hash(r)
print(json.dumps({"prompt_hash": r.prompt_hash.hex(), "digest": request.digest(r).hex()}))
`;
  const input = JSON.stringify(fields, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  const py = JSON.parse(execFileSync(PYTHON, ["-c", script], { cwd: ROOT, input }).toString());
  assert.equal(Buffer.from(promptHash(fields)).toString("hex"), py.prompt_hash);
  assert.equal(Buffer.from(digest(fields)).toString("hex"), py.digest);
});

test("models lists the registered models with their tier and price", async () => {
  const models = await signed().models();
  assert.deepEqual(
    models.map((m) => [m.id, m.tier]),
    [
      [info.llmModel, "TIER_LLM"],
      [info.zkModel, "TIER_ZK"],
    ],
  );
  assert.equal(typeof models[0].pricePer1kTokens, "bigint");
});

test("infer with a signed request returns the output and its evidence", async () => {
  const result = await signed().infer({ model: info.llmModel, prompt: "hello mesh world", maxTokens: 8 });
  assert.equal(result.output, "HELLO MESH WORLD");
  assert.equal(result.tier, "TIER_LLM");
  assert.match(result.requestId, /^0x[0-9a-f]{64}$/);
  assert.ok(result.proof && Array.isArray(result.proof.chunks) && result.proof.chunks.length > 0);
  assert.equal(result.certificate.verdict, "VERDICT_VALID");
  assert.equal(Buffer.from(result.receipt.requestId, "base64").toString("hex"), result.requestId.slice(2));
  assert.equal(result.txHash, null);
});

test("infer on the zk tier returns the 288-byte proof envelope", async () => {
  const features = [3, -7, 12, 0, 5, 9, -1, 4, 8, -12, 6, 2, 0, 1, -3, 7];
  const result = await signed().infer({ model: info.zkModel, prompt: JSON.stringify(features), maxTokens: 1 });
  assert.equal(result.tier, "TIER_ZK");
  assert.match(result.proof, /^0x[0-9a-f]{576}$/);
  assert.ok("label" in JSON.parse(result.output));
});

test("stream yields chunks, then the result with evidence", async () => {
  const stream = await signed().stream({
    model: info.llmModel,
    messages: [{ role: "user", content: "stream four words please" }],
    maxTokens: 8,
  });
  const deltas = [];
  for await (const chunk of stream) deltas.push(chunk.delta);
  assert.deepEqual(deltas, ["STREAM", " FOUR", " WORDS", " PLEASE"]);
  assert.equal(stream.result.output, "STREAM FOUR WORDS PLEASE");
  assert.equal(stream.result.finishReason, "stop");
  assert.equal(stream.result.certificate.verdict, "VERDICT_VALID");
});

test("an API key bound to an escrow account works without a client key", async () => {
  const client = new Ax0nClient({ baseURL: info.http, apiKey: info.apiKey });
  const result = await client.infer({ model: info.llmModel, messages: [{ role: "user", content: "via api key" }] });
  assert.equal(result.output, "VIA API KEY");
});

test("router rejections are typed errors with the router's message", async () => {
  const client = signed();
  await assert.rejects(client.infer({ model: "nope", prompt: "x", feeCap: 10n ** 18n }), (err) => {
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.status, 404);
    assert.match(err.message, /not registered/);
    return true;
  });
  await assert.rejects(client.infer({ model: info.llmModel, prompt: "x", maxTokens: 100000 }), InvalidRequestError);
  await assert.rejects(client.infer({ model: info.llmModel, prompt: "x", feeCap: 1n }), (err) => {
    assert.ok(err instanceof PreconditionError);
    assert.equal(err.status, 402);
    assert.match(err.message, /base fee/);
    return true;
  });
  const poor = new Ax0nClient({ baseURL: info.http, privateKey: info.poorKey });
  await assert.rejects(poor.infer({ model: info.llmModel, prompt: "x", maxTokens: 4 }), /escrow/);
  const wrong = new Ax0nClient({ baseURL: info.http, apiKey: "sk-wrong" });
  await assert.rejects(wrong.infer({ model: info.llmModel, prompt: "x" }), AuthenticationError);
  const otherChain = new Ax0nClient({ baseURL: info.http, privateKey: info.privateKey, chainId: 1 });
  await assert.rejects(otherChain.infer({ model: info.llmModel, prompt: "x", maxTokens: 4 }), /chain/);
  const settlement = "0x" + "99".repeat(20); // signed for another deployment on this chain: replays nowhere
  const otherDeployment = new Ax0nClient({ baseURL: info.http, privateKey: info.privateKey, settlement });
  await assert.rejects(otherDeployment.infer({ model: info.llmModel, prompt: "x", maxTokens: 4 }), /Settlement/);
});
