// SPDX-License-Identifier: MIT
// Copyright 2017 Christian Reitwiessner
// 2019 OKIMS
//
// Groth16 verifier, canonical `(a, b, c, input)` ABI — the general default for fresh
// deployments:
//   verifyProof(uint[2] a, uint[2][2] b, uint[2] c, uint[N] input) returns (bool)
//
// This is the argument shape `snarkjs zkey export solidityverifier` exposes. The pairing
// math reuses the same audited OKIMS Pairing library as the `bytes` style, so the two
// emitters share `verifyingKey()` and differ only in how `verifyProof` decodes its inputs.
//
// GENERAL over any BN254 Groth16 VK: `src/solidity.rs` parameterizes nPublic (the input +
// IC array sizes) and injects the VK constants into the verifyingKey() body.
//
// NOTE (§6): the `b` argument's G2 coordinates are in (c1, c0) word order — the same Fp2
// swap documented in encoding.rs — matching snarkjs's `exportSolidityCallData` and the
// §6b `bytes` layout, so a proof works verbatim across both styles.

pragma solidity ^0.8.24;

library Pairing {
    uint256 constant PRIME_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    struct G1Point {
        uint256 X;
        uint256 Y;
    }

    // Encoding of field elements is: X[0] * z + X[1]
    struct G2Point {
        uint256[2] X;
        uint256[2] Y;
    }

    /*
    * @return The negation of p, i.e. p.plus(p.negate()) should be zero.
    */
    function negate(G1Point memory p) internal pure returns (G1Point memory) {
        if (p.X == 0 && p.Y == 0) {
            return G1Point(0, 0);
        } else {
            return G1Point(p.X, PRIME_Q - (p.Y % PRIME_Q));
        }
    }

    /*
    * @return r the sum of two points of G1
    */
    function plus(G1Point memory p1, G1Point memory p2) internal view returns (G1Point memory r) {
        uint256[4] memory input;
        input[0] = p1.X;
        input[1] = p1.Y;
        input[2] = p2.X;
        input[3] = p2.Y;
        bool success;
        assembly {
            success := staticcall(sub(gas(), 2000), 6, input, 0xc0, r, 0x60)
            switch success
            case 0 { invalid() }
        }
        require(success, "pairing-add-failed");
    }

    /*
    * @return r the product of a point on G1 and a scalar.
    */
    function scalar_mul(G1Point memory p, uint256 s) internal view returns (G1Point memory r) {
        uint256[3] memory input;
        input[0] = p.X;
        input[1] = p.Y;
        input[2] = s;
        bool success;
        assembly {
            success := staticcall(sub(gas(), 2000), 7, input, 0x80, r, 0x60)
            switch success
            case 0 { invalid() }
        }
        require(success, "pairing-mul-failed");
    }

    /* @return The result of computing the pairing check
    *         e(p1[0], p2[0]) *  .... * e(p1[n], p2[n]) == 1
    */
    function pairing(
        G1Point memory a1,
        G2Point memory a2,
        G1Point memory b1,
        G2Point memory b2,
        G1Point memory c1,
        G2Point memory c2,
        G1Point memory d1,
        G2Point memory d2
    ) internal view returns (bool) {
        G1Point[4] memory p1 = [a1, b1, c1, d1];
        G2Point[4] memory p2 = [a2, b2, c2, d2];

        uint256 inputSize = 24;
        uint256[] memory input = new uint256[](inputSize);

        for (uint256 i = 0; i < 4; i++) {
            uint256 j = i * 6;
            input[j + 0] = p1[i].X;
            input[j + 1] = p1[i].Y;
            input[j + 2] = p2[i].X[0];
            input[j + 3] = p2[i].X[1];
            input[j + 4] = p2[i].Y[0];
            input[j + 5] = p2[i].Y[1];
        }

        uint256[1] memory out;
        bool success;
        assembly {
            success := staticcall(sub(gas(), 2000), 8, add(input, 0x20), mul(inputSize, 0x20), out, 0x20)
            switch success
            case 0 { invalid() }
        }
        require(success, "pairing-opcode-failed");
        return out[0] != 0;
    }
}

contract SampleBatchVerifier {
    uint256 constant SNARK_SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 constant PRIME_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    using Pairing for *;

    struct VerifyingKey {
        Pairing.G1Point alfa1;
        Pairing.G2Point beta2;
        Pairing.G2Point gamma2;
        Pairing.G2Point delta2;
        Pairing.G1Point[5] IC;
    }

    struct Proof {
        Pairing.G1Point A;
        Pairing.G2Point B;
        Pairing.G1Point C;
    }

    function verifyingKey() internal pure returns (VerifyingKey memory vk) {
        vk.alfa1 = Pairing.G1Point(
            uint256(8072947171270336682371941318709888219839183441561243684678651114765430560077),
            uint256(10194660133043485658391662356578801712768597188774994163112223028308345501763)
        );
        vk.beta2 = Pairing.G2Point(
            [
                uint256(1693512929817295503607246546803335243846004214244803022306528086377572018708),
                uint256(12831161845263589520632412064335385588257885530526111639968158061508036795507)
            ],
            [
                uint256(4491341898513106803858779063416897430707331143958897262328840622297369671633),
                uint256(13773105397742657544128254393059012343696757572719196979245030709821770966358)
            ]
        );
        vk.gamma2 = Pairing.G2Point(
            [
                uint256(7708826681042267925602018775883217144718370408850398414232549062516930012772),
                uint256(15670907489608848357379641820830173868087042808881814510078998437428176664095)
            ],
            [
                uint256(11218859645396065758256670781382145450596039363189177686930779106300129404428),
                uint256(1313768263108304755864752110505169182401862042074427347442953982088553778100)
            ]
        );
        vk.delta2 = Pairing.G2Point(
            [
                uint256(13891395607809168909296094347286785089617445258421905860222983029958010307446),
                uint256(12449641823410109217722140411662088265746872070027089893820970378510196504911)
            ],
            [
                uint256(8163943665801128032692681521401833275084849389324385420938143003586694859570),
                uint256(3934725885169626478069451330130363588302810904068599660691113478893580893722)
            ]
        );
        vk.IC[0] = Pairing.G1Point(
            uint256(18666732052348370900690336250293114848903070883721085419347932900199164126446),
            uint256(14655351923643543560952274794339584049669331555032456929426009462762799105236)
        );
        vk.IC[1] = Pairing.G1Point(
            uint256(2659164781632580949551929407814398128838756282218902138014179016959655758525),
            uint256(11393166833381080810016483310952766526254696816303627041239450175586924415221)
        );
        vk.IC[2] = Pairing.G1Point(
            uint256(9580511143414331446221321394850494289806237339649180131638860220319686674819),
            uint256(17534487050100715163712783536108091996413252322576224244412611741365790402835)
        );
        vk.IC[3] = Pairing.G1Point(
            uint256(9513092971752941179019048848179918886238975696975828373641089309121093888359),
            uint256(9141837662253212532694413723670861419249256140472406003756835523860236079705)
        );
        vk.IC[4] = Pairing.G1Point(
            uint256(20323675918390252688372833694522452753042215123826736586099618849750429797004),
            uint256(1998426817215420706298556521381402078092294215205643345878055553303881062755)
        );
    }

    /*
    * @returns Whether the proof is valid given the verifying key and public inputs.
    */
    function verifyProof(
        uint256[2] memory a,
        uint256[2][2] memory b,
        uint256[2] memory c,
        uint256[4] memory input
    ) public view returns (bool) {
        // Proof elements must be less than the prime q.
        require(a[0] < PRIME_Q && a[1] < PRIME_Q, "verifier-aX-gte-prime-q");
        require(c[0] < PRIME_Q && c[1] < PRIME_Q, "verifier-cX-gte-prime-q");
        require(
            b[0][0] < PRIME_Q && b[0][1] < PRIME_Q && b[1][0] < PRIME_Q && b[1][1] < PRIME_Q,
            "verifier-bX-gte-prime-q"
        );

        Proof memory _proof;
        _proof.A = Pairing.G1Point(a[0], a[1]);
        _proof.B = Pairing.G2Point([b[0][0], b[0][1]], [b[1][0], b[1][1]]);
        _proof.C = Pairing.G1Point(c[0], c[1]);

        VerifyingKey memory vk = verifyingKey();

        Pairing.G1Point memory vk_x = Pairing.G1Point(0, 0);
        vk_x = Pairing.plus(vk_x, vk.IC[0]);

        for (uint256 i = 0; i < input.length; i++) {
            require(input[i] < SNARK_SCALAR_FIELD, "verifier-gte-snark-scalar-field");
            vk_x = Pairing.plus(vk_x, Pairing.scalar_mul(vk.IC[i + 1], input[i]));
        }

        return Pairing.pairing(
            Pairing.negate(_proof.A), _proof.B, vk.alfa1, vk.beta2, vk_x, vk.gamma2, _proof.C, vk.delta2
        );
    }
}
