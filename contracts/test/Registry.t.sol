// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Deployed} from "./utils/Deployed.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {ProtocolParams} from "../src/ProtocolParams.sol";
import {IZkVerifier} from "../src/interfaces/IZkVerifier.sol";

contract ModelRegistryTest is Deployed {
    bytes32 internal constant ID = keccak256("mlp-devnet");

    function test_registerAndPrice() public {
        models.register(ID, bytes32(uint256(1)), ModelRegistry.Tier.Zk, 16_000, bytes32(uint256(2)), 3 ether);
        ModelRegistry.Model memory m = models.model(ID);
        vm.assertEq(m.commitment, bytes32(uint256(1)), "commitment");
        vm.assertEq(m.pricePer1k, 3 ether, "price");
        vm.assertTrue(models.exists(ID), "exists");
        models.setPrice(ID, 5 ether);
        vm.assertEq(models.model(ID).pricePer1k, 5 ether, "new price");
    }

    function test_revert_register() public {
        models.register(ID, bytes32(uint256(1)), ModelRegistry.Tier.Llm, 135_000_000, 0, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelExists.selector, ID));
        models.register(ID, bytes32(uint256(1)), ModelRegistry.Tier.Llm, 1, 0, 1);
        vm.expectRevert(ModelRegistry.EmptyCommitment.selector);
        models.register(bytes32("x"), 0, ModelRegistry.Tier.Llm, 1, 0, 1);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.TooManyParams.selector, uint64(70_000_000_001), 70_000_000_000));
        models.register(bytes32("x"), bytes32("c"), ModelRegistry.Tier.Llm, 70_000_000_001, 0, 1);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.MissingVerifyingKey.selector, bytes32("x")));
        models.register(bytes32("x"), bytes32("c"), ModelRegistry.Tier.Zk, 1, 0, 1);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, bytes32("y")));
        models.setPrice(bytes32("y"), 1);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, bytes32("y")));
        models.model(bytes32("y"));
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, bytes32("y")));
        models.feeFor(bytes32("y"), 1, 1);
    }

    function test_registerPublicWeights() public {
        IZkVerifier own = IZkVerifier(address(0x5EED));
        models.registerPublicWeights(ID, bytes32(uint256(7)), 874, bytes32(uint256(8)), own, 1 ether);
        ModelRegistry.Model memory m = models.model(ID);
        vm.assertTrue(m.zkMode == ModelRegistry.ZkMode.PublicWeights, "mode");
        vm.assertTrue(m.tier == ModelRegistry.Tier.Zk, "tier");
        vm.assertEq(m.vkHash, bytes32(uint256(8)), "vk hash");
        vm.assertEq(address(models.zkVerifierOf(bytes32(uint256(7)))), address(own), "verifier by commitment");
        models.register(bytes32("p"), bytes32(uint256(9)), ModelRegistry.Tier.Zk, 874, bytes32(uint256(8)), 1);
        vm.assertTrue(models.model(bytes32("p")).zkMode == ModelRegistry.ZkMode.PrivateWeights, "private mode");
        vm.assertEq(address(models.zkVerifierOf(bytes32(uint256(9)))), address(0), "shared verifier");
    }

    function test_revert_registerPublicWeights() public {
        IZkVerifier own = IZkVerifier(address(0x5EED));
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.MissingVerifier.selector, ID));
        models.registerPublicWeights(ID, bytes32(uint256(7)), 874, bytes32(uint256(8)), IZkVerifier(address(0)), 1);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.MissingVerifyingKey.selector, ID));
        models.registerPublicWeights(ID, bytes32(uint256(7)), 874, 0, own, 1);
        models.registerPublicWeights(ID, bytes32(uint256(7)), 874, bytes32(uint256(8)), own, 1);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.CommitmentTaken.selector, bytes32(uint256(7))));
        models.registerPublicWeights(bytes32("q"), bytes32(uint256(7)), 874, bytes32(uint256(8)), own, 1);
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(0xBAD)));
        models.registerPublicWeights(bytes32("r"), bytes32(uint256(1)), 1, bytes32(uint256(8)), own, 1);
    }

    function test_revert_onlyOwner() public {
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(0xBAD)));
        models.register(ID, bytes32(uint256(1)), ModelRegistry.Tier.Llm, 1, 0, 1);
    }

    function testFuzz_feeIsTheFeeRule(uint96 price, uint32 tokens, uint128 cap) public {
        models.register(ID, bytes32(uint256(1)), ModelRegistry.Tier.Llm, 1, 0, price);
        uint256 metered = uint256(price) * tokens / 1000;
        uint256 floor = uint256(cap) * params.get("base_fee_rate_bps") / 10_000;
        uint256 fee = models.feeFor(ID, tokens, cap);
        vm.assertEq(fee, metered > floor ? (metered < cap ? metered : cap) : floor, "min(cap, max(metered, floor))");
        vm.assertEq(models.baseFee(ID, tokens), (uint256(price) * tokens + 999) / 1000, "base fee rounds up");
    }
}

contract ProtocolParamsTest is Deployed {
    function test_getSet() public {
        vm.assertEq(params.get("min_node_stake"), MIN_STAKE, "initial");
        params.set("settlement_frequency", 4);
        vm.assertEq(params.get("settlement_frequency"), 4, "changed");
    }

    function test_revert_unknownOrInvalid() public {
        vm.expectRevert(abi.encodeWithSelector(ProtocolParams.UnknownParam.selector, bytes32("nope")));
        params.get("nope");
        vm.expectRevert(abi.encodeWithSelector(ProtocolParams.UnknownParam.selector, bytes32("nope")));
        params.set("nope", 1);
        _expectInvalid("operator_fee_share_bps", 9_000, "fee shares above 100%");
        params.set("operator_fee_share_bps", 9_000);
        _expectInvalid("max_batch_size", 0, "must be positive");
        params.set("max_batch_size", 0);
        _expectInvalid("slash_equivocation_bps", 10_001, "rate above 100%");
        params.set("slash_equivocation_bps", 10_001);
    }

    function _expectInvalid(bytes32 name, uint256 value, string memory reason) private {
        vm.expectRevert(abi.encodeWithSelector(ProtocolParams.InvalidParam.selector, name, value, reason));
    }

    function test_revert_anUnbondingShorterThanSettlementPlusChallengeWindow() public {
        uint256 epoch = params.get("node_epoch_length");
        string memory reason = "unbonding shorter than settlement plus challenge window";
        _expectInvalid("slash_window", epoch, reason);
        params.set("slash_window", epoch); // settlement_frequency + slash_window > node_epoch_length
        _expectInvalid("node_epoch_length", epoch - 1, reason);
        params.set("node_epoch_length", epoch - 1);
        _expectInvalid("settlement_frequency", epoch, reason);
        params.set("settlement_frequency", epoch);
    }

    function test_setManyMovesRelatedValuesTogether() public {
        bytes32[] memory names = new bytes32[](2);
        uint256[] memory values = new uint256[](2);
        (names[0], values[0]) = ("slash_window", 1_000);
        (names[1], values[1]) = ("node_epoch_length", 1_000 + FREQUENCY);
        params.setMany(names, values); // each alone would break the invariant one way or the other
        vm.assertEq(params.get("node_epoch_length"), 1_000 + FREQUENCY, "both set");
    }

    function test_revert_aTableMissingAParameter() public {
        bytes32[] memory names = paramNames();
        uint256[] memory values = paramValues();
        assembly ("memory-safe") {
            mstore(names, 20) // drop challenger_reward_bps
            mstore(values, 20)
        }
        vm.expectRevert(abi.encodeWithSelector(ProtocolParams.MissingParam.selector, bytes32("challenger_reward_bps")));
        new ProtocolParams(address(this), names, values);
    }

    function test_revert_onlyOwner() public {
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(0xBAD)));
        params.set("slash_window", 1);
    }
}

contract Ax0nTokenTest is Deployed {
    function test_allocation() public view {
        uint256 supply = 1_000_000_000 ether;
        vm.assertEq(token.totalSupply(), supply, "supply");
        vm.assertEq(token.balanceOf(OPS_POOL), supply * 40 / 100, "operators 40%");
        vm.assertEq(token.balanceOf(TEAM), supply * 18 / 100, "team 18%");
        vm.assertEq(token.balanceOf(ECOSYSTEM), supply * 25 / 100, "ecosystem 25%");
        vm.assertEq(token.balanceOf(TREASURY), supply * 17 / 100, "treasury 17%");
    }

    function test_permitAndVotes() public {
        uint256 key = 0xA11CE;
        address owner = vm.addr(key);
        fund(owner, 10 ether);
        bytes32 typehash =
            keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
        bytes32 structHash = keccak256(abi.encode(typehash, owner, address(this), 3 ether, 0, block.timestamp + 1));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        token.permit(owner, address(this), 3 ether, block.timestamp + 1, v, r, s);
        vm.assertEq(token.allowance(owner, address(this)), 3 ether, "permit allowance");
        vm.prank(owner);
        token.delegate(owner);
        vm.assertEq(token.getVotes(owner), 10 ether, "votes");
        vm.assertEq(token.clock(), block.timestamp, "timestamp clock");
    }
}
