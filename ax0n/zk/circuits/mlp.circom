pragma circom 2.1.0;

// zk-tier reference model: a quantized two-layer MLP classifier, proven whole.
// Public inputs: commitment (Poseidon commitment of the weights), inputHash, outputHash. Two modes: QuantizedMLP
// (private weights, a witness the commitment binds) and PublicWeightMLP (weights as constants, one key per model).
// The bit-exact integer reference is ax0n/zk/mlp.py; docs/proofs.md states what a proof proves.

include "common.circom";

// ReLU then requantize: out = clamp(floor(acc / 2^SHIFT), 0, 127), for |acc| < 2^(ACC_BITS-1).
template ReluRequant(ACC_BITS, SHIFT) {
    signal input acc;
    signal output out;

    component bits = Num2Bits(ACC_BITS);
    bits.in <== acc + (1 << (ACC_BITS - 1));
    var nonneg = bits.out[ACC_BITS - 1];

    var low = 0;
    for (var i = 0; i < 7; i++) {
        low += bits.out[SHIFT + i] * (1 << i);
    }
    var high = 0;
    for (var i = SHIFT + 7; i < ACC_BITS - 1; i++) {
        high += bits.out[i];
    }
    component noHigh = IsZero();
    noHigh.in <== high;
    // saturated = low if no high bit is set, else 127
    signal saturated <== low + (1 - noHigh.out) * (127 - low);
    out <== nonneg * saturated;
}

// Index of the first maximum of N signed values with |v| < 2^(BITS-1).
template ArgMax(N, BITS) {
    signal input in[N];
    signal output out;

    signal best[N];
    signal idx[N];
    component gt[N];
    best[0] <== in[0];
    idx[0] <== 0;
    for (var k = 1; k < N; k++) {
        gt[k] = LessThan(BITS);
        gt[k].in[0] <== best[k - 1] + (1 << (BITS - 1));
        gt[k].in[1] <== in[k] + (1 << (BITS - 1));
        best[k] <== best[k - 1] + gt[k].out * (in[k] - best[k - 1]);
        idx[k] <== idx[k - 1] + gt[k].out * (k - idx[k - 1]);
    }
    out <== idx[N - 1];
}

// The input hash of IN int8 features: Poseidon(IN, packed...) over the features packed 31 per element
// (PackSigned range-checks each one, so the packing is injective): one small Poseidon for IN <= 31.
template FeatureHash(IN) {
    signal input in[IN];
    signal output out;

    var P = (IN + 30) \ 31;
    component pack = PackSigned(IN, 8, 31);
    component h = Poseidon(1 + P);
    for (var i = 0; i < IN; i++) {
        pack.in[i] <== in[i];
    }
    h.inputs[0] <== IN;
    for (var i = 0; i < P; i++) {
        h.inputs[1 + i] <== pack.out[i];
    }
    out <== h.out;
}

template QuantizedMLP(IN, HID, OUT, SHIFT) {
    signal input commitment;
    signal input inputHash;
    signal input outputHash;

    signal input x[IN];
    signal input w1[HID][IN];
    signal input b1[HID];
    signal input w2[OUT][HID];
    signal input b2[OUT];

    // Weight commitment: int8 weights packed 31 per element, int16 biases 15 per element.
    var P1 = (HID * IN + 30) \ 31;
    var PB1 = (HID + 14) \ 15;
    var P2 = (OUT * HID + 30) \ 31;
    var PB2 = (OUT + 14) \ 15;
    component pw1 = PackSigned(HID * IN, 8, 31);
    component pb1 = PackSigned(HID, 16, 15);
    component pw2 = PackSigned(OUT * HID, 8, 31);
    component pb2 = PackSigned(OUT, 16, 15);
    for (var j = 0; j < HID; j++) {
        for (var i = 0; i < IN; i++) {
            pw1.in[j * IN + i] <== w1[j][i];
        }
        pb1.in[j] <== b1[j];
    }
    for (var k = 0; k < OUT; k++) {
        for (var j = 0; j < HID; j++) {
            pw2.in[k * HID + j] <== w2[k][j];
        }
        pb2.in[k] <== b2[k];
    }
    component commit = VectorHash(P1 + PB1 + P2 + PB2);
    for (var i = 0; i < P1; i++) { commit.in[i] <== pw1.out[i]; }
    for (var i = 0; i < PB1; i++) { commit.in[P1 + i] <== pb1.out[i]; }
    for (var i = 0; i < P2; i++) { commit.in[P1 + PB1 + i] <== pw2.out[i]; }
    for (var i = 0; i < PB2; i++) { commit.in[P1 + PB1 + P2 + i] <== pb2.out[i]; }
    commitment === commit.out;

    // Input: IN int8 features.
    component inHash = FeatureHash(IN);
    for (var i = 0; i < IN; i++) {
        inHash.in[i] <== x[i];
    }
    inputHash === inHash.out;

    // Layer 1: h = clamp((b1 + W1 x) >> SHIFT, 0, 127).
    var ACC1 = 20;  // |b1 + W1 x| <= 2^15 + IN * 2^14 < 2^19 for IN <= 16
    signal p1[HID][IN];
    component act[HID];
    for (var j = 0; j < HID; j++) {
        var acc = b1[j];
        for (var i = 0; i < IN; i++) {
            p1[j][i] <== w1[j][i] * x[i];
            acc += p1[j][i];
        }
        act[j] = ReluRequant(ACC1, SHIFT);
        act[j].acc <== acc;
    }

    // Layer 2: logits = b2 + W2 h; label = first argmax.
    var ACC2 = 21;  // |b2 + W2 h| <= 2^15 + HID * 128 * 127 < 2^20 for HID <= 32
    signal p2[OUT][HID];
    signal logits[OUT];
    for (var k = 0; k < OUT; k++) {
        var acc = b2[k];
        for (var j = 0; j < HID; j++) {
            p2[k][j] <== w2[k][j] * act[j].out;
            acc += p2[k][j];
        }
        logits[k] <== acc;
    }
    component label = ArgMax(OUT, ACC2);
    for (var k = 0; k < OUT; k++) {
        label.in[k] <== logits[k];
    }

    // Output: (label, logits...).
    component outHash = VectorHash(OUT + 1);
    outHash.in[0] <== label.out;
    for (var k = 0; k < OUT; k++) {
        outHash.in[k + 1] <== logits[k];
    }
    outputHash === outHash.out;
}
