pragma circom 2.1.0;

// Shared templates for ax0n circuits. Every hash here matches ax0n/zk/poseidon.py bit for bit.

include "poseidon.circom";
include "bitify.circom";
include "comparators.circom";

// Hash a fixed-length vector of field elements with Poseidon of arity <= 12:
// h = N; for each chunk of 11 elements (the last one zero-padded): h = Poseidon(h, chunk[0..10]).
template VectorHash(N) {
    signal input in[N];
    signal output out;

    var CHUNK = 11;
    var nChunks = (N + CHUNK - 1) \ CHUNK;
    component h[nChunks];
    for (var c = 0; c < nChunks; c++) {
        h[c] = Poseidon(CHUNK + 1);
        if (c == 0) {
            h[c].inputs[0] <== N;
        } else {
            h[c].inputs[0] <== h[c - 1].out;
        }
        for (var k = 0; k < CHUNK; k++) {
            var idx = c * CHUNK + k;
            if (idx < N) {
                h[c].inputs[k + 1] <== in[idx];
            } else {
                h[c].inputs[k + 1] <== 0;
            }
        }
    }
    out <== h[nChunks - 1].out;
}

// Pack N signed integers of BITS bits each into field elements, PER values per element,
// little-endian: packed[j] = sum_k (in[j*PER + k] + 2^(BITS-1)) * 2^(BITS*k).
// Range-checks every value to [-2^(BITS-1), 2^(BITS-1)), which makes the packing injective.
template PackSigned(N, BITS, PER) {
    var nOut = (N + PER - 1) \ PER;
    signal input in[N];
    signal output out[nOut];

    component rc[N];
    var acc[nOut];
    for (var j = 0; j < nOut; j++) {
        acc[j] = 0;
    }
    for (var i = 0; i < N; i++) {
        rc[i] = Num2Bits(BITS);
        rc[i].in <== in[i] + (1 << (BITS - 1));
        acc[i \ PER] += rc[i].in * (1 << (BITS * (i % PER)));
    }
    for (var j = 0; j < nOut; j++) {
        out[j] <== acc[j];
    }
}

// Range-check that `in` is a signed BITS-bit integer.
template SignedRange(BITS) {
    signal input in;
    component rc = Num2Bits(BITS);
    rc.in <== in + (1 << (BITS - 1));
}
