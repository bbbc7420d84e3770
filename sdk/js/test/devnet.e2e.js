// The TypeScript SDK against the one-machine devnet: the real router, executor, prover, validators and settler.
// tests/devnet/test_js_sdk.py starts the devnet and runs this file with its coordinates in the environment:
//   AX0N_DEVNET_HTTP, AX0N_DEVNET_KEY, AX0N_DEVNET_CHAIN_ID, AX0N_DEVNET_LLM_MODEL, AX0N_DEVNET_ZK_MODEL,
//   AX0N_DEVNET_ZK_FEATURES, AX0N_DEVNET_ZK_OUTPUT (the devnet MLP's output for those features).
// `npm test` (node --test test/) also loads this file; without a devnet its tests are skipped.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { keccak_256 } from "@noble/hashes/sha3.js";

import { Ax0nClient } from "../dist/index.js";

const env = process.env;
const skip = env.AX0N_DEVNET_HTTP ? false : "needs a devnet (tests/devnet/test_js_sdk.py sets AX0N_DEVNET_*)";
const MESSAGES = [{ role: "user", content: "Name a colour." }];

const client = () =>
  new Ax0nClient({
    baseURL: env.AX0N_DEVNET_HTTP,
    privateKey: env.AX0N_DEVNET_KEY,
    chainId: Number(env.AX0N_DEVNET_CHAIN_ID),
    settlement: env.AX0N_DEVNET_SETTLEMENT,
  });

/** A protobuf-JSON bytes field (base64) as lowercase hex without 0x. */
const hex = (b64) => Buffer.from(String(b64), "base64").toString("hex");

/** The evidence every finalized result carries: a receipt for this request and tier, and a VALID certificate. */
function assertEvidence(result, model, tier) {
  assert.equal(result.tier, tier);
  assert.match(result.requestId, /^0x[0-9a-f]{64}$/);
  assert.equal(result.receipt.modelId, model);
  assert.equal(hex(result.receipt.requestId), result.requestId.slice(2));
  assert.equal(hex(result.receipt.signature).length, 130); // the executor node's secp256k1 signature
  assert.equal(result.certificate.verdict, "VERDICT_VALID");
  assert.equal(hex(result.certificate.requestId), result.requestId.slice(2));
}

/** The LLM-tier receipt commits to the output text: outputHash = keccak256(UTF-8 output). */
function assertOutputCommitted(result, output) {
  assert.equal(hex(result.receipt.outputHash), Buffer.from(keccak_256(Buffer.from(output, "utf8"))).toString("hex"));
}

describe("TypeScript SDK on the devnet", { skip }, () => {
  let inferred;

  test("infer on the LLM tier with chat messages returns output, receipt, fingerprint and certificate", async () => {
    const model = env.AX0N_DEVNET_LLM_MODEL;
    const result = await client().infer({ model, messages: MESSAGES, maxTokens: 8 });
    assert.ok(result.output.length > 0);
    assertEvidence(result, model, "TIER_LLM");
    assertOutputCommitted(result, result.output);
    assert.ok(Array.isArray(result.proof.chunks) && result.proof.chunks.length > 0); // the activation fingerprint
    inferred = result.output;
  });

  test("infer on the zk tier returns the MLP's output and the 288-byte Groth16 envelope", async () => {
    const model = env.AX0N_DEVNET_ZK_MODEL;
    const result = await client().infer({ model, prompt: env.AX0N_DEVNET_ZK_FEATURES, maxTokens: 1 });
    assert.deepEqual(JSON.parse(result.output), JSON.parse(env.AX0N_DEVNET_ZK_OUTPUT));
    assertEvidence(result, model, "TIER_ZK");
    assert.match(result.proof, /^0x[0-9a-f]{576}$/);
  });

  test("stream on the LLM tier yields deltas that add up to the signed output", async () => {
    const model = env.AX0N_DEVNET_LLM_MODEL;
    const stream = await client().stream({ model, messages: MESSAGES, maxTokens: 8 });
    const deltas = [];
    for await (const chunk of stream) deltas.push(chunk.delta);
    assert.ok(deltas.length > 0 && deltas.every((d) => d.length > 0));
    const text = deltas.join("");
    assert.ok(stream.result);
    assert.equal(stream.result.output, text);
    assertEvidence(stream.result, model, "TIER_LLM");
    assertOutputCommitted(stream.result, text); // the executor signed exactly what was streamed
    assert.equal(text, inferred); // greedy decoding: the same messages give the same output streamed or not
  });
});
