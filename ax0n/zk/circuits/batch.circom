pragma circom 2.1.0;

// Settlement batch: a Poseidon Merkle root over N receipt leaves and the fee totals they imply.
// Leaf format, padding and public-input layout: docs/proofs.md; Python mirror: ax0n/zk/batch.py.

include "common.circom";

// q = floor(a * bps / 10000) for a < 2^96, bps <= 10000.
template BpsShare() {
    signal input a;
    signal input bps;
    signal output q;

    signal prod <== a * bps;
    signal r;
    q <-- prod \ 10000;
    r <-- prod % 10000;
    prod === q * 10000 + r;
    component qr = Num2Bits(96);
    qr.in <== q;
    component rr = LessThan(14);
    rr.in[0] <== r;
    rr.in[1] <== 10000;
    rr.out === 1;
}

// For each leaf i (active when i < count), the slot m with slots[m] == key[i]; out[m] = sum of value[i] over
// the active leaves in slot m. Each active leaf must match exactly one slot.
template SlotTotals(N) {
    signal input key[N];
    signal input value[N];
    signal input active[N];
    signal input slots[N];
    signal output out[N];

    component eq[N][N];
    signal match[N][N];
    signal part[N][N];
    var total[N];
    for (var m = 0; m < N; m++) {
        total[m] = 0;
    }
    for (var i = 0; i < N; i++) {
        var matched = 0;
        for (var m = 0; m < N; m++) {
            eq[i][m] = IsEqual();
            eq[i][m].in[0] <== key[i];
            eq[i][m].in[1] <== slots[m];
            match[i][m] <== eq[i][m].out * active[i];
            part[i][m] <== match[i][m] * value[i];
            matched += match[i][m];
            total[m] += part[i][m];
        }
        matched === active[i];
    }
    for (var m = 0; m < N; m++) {
        out[m] <== total[m];
    }
}

template BatchSettlement(DEPTH, N) {
    assert(N == 1 << DEPTH);

    // public
    signal input batchId;
    signal input root;
    signal input count;
    signal input operatorBps;
    signal input validatorBps;
    signal input feeTotal;
    signal input validatorTotal;
    signal input treasuryTotal;
    signal input operators[N];
    signal input operatorAmounts[N];
    signal input clients[N];
    signal input clientAmounts[N];

    // private: the leaves
    signal input requestHi[N];
    signal input requestLo[N];
    signal input receiptHi[N];
    signal input receiptLo[N];
    signal input operator[N];
    signal input client[N];
    signal input fee[N];
    signal input feeCap[N];

    // bind batchId to the proof (a public input in no constraint would drop out of the verifying key)
    signal batchIdSquare <== batchId * batchId;

    // 0 < count <= N; shares add up to at most 100 %
    component countLe = LessEqThan(DEPTH + 2);
    countLe.in[0] <== count;
    countLe.in[1] <== N;
    countLe.out === 1;
    component countZero = IsZero();
    countZero.in <== count;
    countZero.out === 0;
    component bpsLe = LessEqThan(15);
    bpsLe.in[0] <== operatorBps + validatorBps;
    bpsLe.in[1] <== 10000;
    bpsLe.out === 1;
    component opBpsRange = Num2Bits(14);
    opBpsRange.in <== operatorBps;
    component valBpsRange = Num2Bits(14);
    valBpsRange.in <== validatorBps;

    signal active[N];
    component isActive[N];
    component feeRange[N];
    component capRange[N];
    component feeLeCap[N];
    component opZero[N];
    component clientZero[N];
    component opShare[N];
    component valShare[N];
    component leaf[N];
    signal leafValue[N];
    var sumFee = 0;
    var sumVal = 0;
    var sumTreasury = 0;
    for (var i = 0; i < N; i++) {
        isActive[i] = LessThan(DEPTH + 2);
        isActive[i].in[0] <== i;
        isActive[i].in[1] <== count;
        active[i] <== isActive[i].out;

        // fee <= feeCap < 2^96; padding leaves carry no fee
        feeRange[i] = Num2Bits(96);
        feeRange[i].in <== fee[i];
        capRange[i] = Num2Bits(96);
        capRange[i].in <== feeCap[i];
        feeLeCap[i] = LessEqThan(96);
        feeLeCap[i].in[0] <== fee[i];
        feeLeCap[i].in[1] <== feeCap[i];
        feeLeCap[i].out === 1;
        (1 - active[i]) * fee[i] === 0;

        // active leaves name a non-zero operator and client
        opZero[i] = IsZero();
        opZero[i].in <== operator[i];
        opZero[i].out * active[i] === 0;
        clientZero[i] = IsZero();
        clientZero[i].in <== client[i];
        clientZero[i].out * active[i] === 0;

        // the 78/12/10 split (basis points are public inputs), floored per receipt; dust to the treasury
        opShare[i] = BpsShare();
        opShare[i].a <== fee[i];
        opShare[i].bps <== operatorBps;
        valShare[i] = BpsShare();
        valShare[i].a <== fee[i];
        valShare[i].bps <== validatorBps;
        sumFee += fee[i];
        sumVal += valShare[i].q;
        sumTreasury += fee[i] - opShare[i].q - valShare[i].q;

        leaf[i] = Poseidon(8);
        leaf[i].inputs[0] <== requestHi[i];
        leaf[i].inputs[1] <== requestLo[i];
        leaf[i].inputs[2] <== receiptHi[i];
        leaf[i].inputs[3] <== receiptLo[i];
        leaf[i].inputs[4] <== operator[i];
        leaf[i].inputs[5] <== client[i];
        leaf[i].inputs[6] <== fee[i];
        leaf[i].inputs[7] <== feeCap[i];
        leafValue[i] <== active[i] * leaf[i].out;
    }
    feeTotal === sumFee;
    validatorTotal === sumVal;
    treasuryTotal === sumTreasury;

    component opTotals = SlotTotals(N);
    component clientTotals = SlotTotals(N);
    for (var i = 0; i < N; i++) {
        opTotals.key[i] <== operator[i];
        opTotals.value[i] <== opShare[i].q;
        opTotals.active[i] <== active[i];
        opTotals.slots[i] <== operators[i];
        clientTotals.key[i] <== client[i];
        clientTotals.value[i] <== fee[i];
        clientTotals.active[i] <== active[i];
        clientTotals.slots[i] <== clients[i];
    }
    for (var m = 0; m < N; m++) {
        operatorAmounts[m] === opTotals.out[m];
        clientAmounts[m] === clientTotals.out[m];
    }

    // Merkle root: node = Poseidon(left, right), leaves at level 0 (padding leaves are 0)
    component node[N - 1];
    var level[N];
    for (var i = 0; i < N; i++) {
        level[i] = leafValue[i];
    }
    var k = 0;
    for (var width = N; width > 1; width = width \ 2) {
        for (var j = 0; j < width \ 2; j++) {
            node[k] = Poseidon(2);
            node[k].inputs[0] <== level[2 * j];
            node[k].inputs[1] <== level[2 * j + 1];
            level[j] = node[k].out;
            k++;
        }
    }
    root === level[0];
}
