pragma circom 2.1.0;

// zk-tier reference model in public-weight mode (ax0n/zk/public.py): the main that includes this file defines
// the weights as functions W1(), B1(), W2(), B2(), so they are circuit constants and one key serves one model.

include "mlp.circom";

// The same model with public weights: W1(), B1(), W2(), B2() are functions the generated main defines, so the
// weights are circuit constants and both linear layers are linear combinations (no constraints). `commitment`
// is a public input the circuit leaves free: the verifying key alone fixes the weights, and the verifier picks
// that key by the commitment (ax0n/zk/public.py). ACC1 and ACC2 are the model's own accumulator bounds in bits.
template PublicWeightMLP(IN, HID, OUT, SHIFT, ACC1, ACC2) {
    signal input commitment;
    signal input inputHash;
    signal input outputHash;
    signal input x[IN];

    var w1[HID][IN] = W1();
    var b1[HID] = B1();
    var w2[OUT][HID] = W2();
    var b2[OUT] = B2();

    component inHash = FeatureHash(IN);
    for (var i = 0; i < IN; i++) {
        inHash.in[i] <== x[i];
    }
    inputHash === inHash.out;

    component act[HID];
    for (var j = 0; j < HID; j++) {
        var acc = b1[j];
        for (var i = 0; i < IN; i++) {
            acc += w1[j][i] * x[i];
        }
        act[j] = ReluRequant(ACC1, SHIFT);
        act[j].acc <== acc;
    }

    component label = ArgMax(OUT, ACC2);
    component outHash = VectorHash(OUT + 1);
    for (var k = 0; k < OUT; k++) {
        var acc = b2[k];
        for (var j = 0; j < HID; j++) {
            acc += w2[k][j] * act[j].out;
        }
        label.in[k] <== acc;
        outHash.in[k + 1] <== acc;
    }
    outHash.in[0] <== label.out;
    outputHash === outHash.out;
}
