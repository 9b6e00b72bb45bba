"""Released HAWQ-V3 bit configurations (``bit_config.py`` of ``Zhen-Dong/HAWQ`` @ 1616df69).

``NAMES[arch]`` lists the reference module names in order; ``BITS[arch][scheme]`` the bit-width of each
(QuantAct entries: activation bits, 4 = unsigned; conv/linear entries: weight bits). Transcribed from the
reference file; ``tests/models/test_hawq_models.py`` checks them against the vectors.
"""
from __future__ import annotations

NAMES: dict[str, tuple[str, ...]] = {
    "resnet18": (
        "quant_input", "quant_init_block_convbn", "quant_act_int32", "stage1.unit1.quant_act",
        "stage1.unit1.quant_convbn1", "stage1.unit1.quant_act1", "stage1.unit1.quant_convbn2", "stage1.unit1.quant_act_int32",
        "stage1.unit2.quant_act", "stage1.unit2.quant_convbn1", "stage1.unit2.quant_act1", "stage1.unit2.quant_convbn2",
        "stage1.unit2.quant_act_int32", "stage2.unit1.quant_act", "stage2.unit1.quant_convbn1", "stage2.unit1.quant_act1",
        "stage2.unit1.quant_convbn2", "stage2.unit1.quant_identity_convbn", "stage2.unit1.quant_act_int32", "stage2.unit2.quant_act",
        "stage2.unit2.quant_convbn1", "stage2.unit2.quant_act1", "stage2.unit2.quant_convbn2", "stage2.unit2.quant_act_int32",
        "stage3.unit1.quant_act", "stage3.unit1.quant_convbn1", "stage3.unit1.quant_act1", "stage3.unit1.quant_convbn2",
        "stage3.unit1.quant_identity_convbn", "stage3.unit1.quant_act_int32", "stage3.unit2.quant_act", "stage3.unit2.quant_convbn1",
        "stage3.unit2.quant_act1", "stage3.unit2.quant_convbn2", "stage3.unit2.quant_act_int32", "stage4.unit1.quant_act",
        "stage4.unit1.quant_convbn1", "stage4.unit1.quant_act1", "stage4.unit1.quant_convbn2", "stage4.unit1.quant_identity_convbn",
        "stage4.unit1.quant_act_int32", "stage4.unit2.quant_act", "stage4.unit2.quant_convbn1", "stage4.unit2.quant_act1",
        "stage4.unit2.quant_convbn2", "stage4.unit2.quant_act_int32", "quant_act_output", "quant_output",
    ),
    "resnet50": (
        "quant_input", "quant_init_convbn", "quant_act_int32", "stage1.unit1.quant_act",
        "stage1.unit1.quant_convbn1", "stage1.unit1.quant_act1", "stage1.unit1.quant_convbn2", "stage1.unit1.quant_act2",
        "stage1.unit1.quant_convbn3", "stage1.unit1.quant_identity_convbn", "stage1.unit1.quant_act_int32", "stage1.unit2.quant_act",
        "stage1.unit2.quant_convbn1", "stage1.unit2.quant_act1", "stage1.unit2.quant_convbn2", "stage1.unit2.quant_act2",
        "stage1.unit2.quant_convbn3", "stage1.unit2.quant_act_int32", "stage1.unit3.quant_act", "stage1.unit3.quant_convbn1",
        "stage1.unit3.quant_act1", "stage1.unit3.quant_convbn2", "stage1.unit3.quant_act2", "stage1.unit3.quant_convbn3",
        "stage1.unit3.quant_act_int32", "stage2.unit1.quant_act", "stage2.unit1.quant_convbn1", "stage2.unit1.quant_act1",
        "stage2.unit1.quant_convbn2", "stage2.unit1.quant_act2", "stage2.unit1.quant_convbn3", "stage2.unit1.quant_identity_convbn",
        "stage2.unit1.quant_act_int32", "stage2.unit2.quant_act", "stage2.unit2.quant_convbn1", "stage2.unit2.quant_act1",
        "stage2.unit2.quant_convbn2", "stage2.unit2.quant_act2", "stage2.unit2.quant_convbn3", "stage2.unit2.quant_act_int32",
        "stage2.unit3.quant_act", "stage2.unit3.quant_convbn1", "stage2.unit3.quant_act1", "stage2.unit3.quant_convbn2",
        "stage2.unit3.quant_act2", "stage2.unit3.quant_convbn3", "stage2.unit3.quant_act_int32", "stage2.unit4.quant_act",
        "stage2.unit4.quant_convbn1", "stage2.unit4.quant_act1", "stage2.unit4.quant_convbn2", "stage2.unit4.quant_act2",
        "stage2.unit4.quant_convbn3", "stage2.unit4.quant_act_int32", "stage3.unit1.quant_act", "stage3.unit1.quant_convbn1",
        "stage3.unit1.quant_act1", "stage3.unit1.quant_convbn2", "stage3.unit1.quant_act2", "stage3.unit1.quant_convbn3",
        "stage3.unit1.quant_identity_convbn", "stage3.unit1.quant_act_int32", "stage3.unit2.quant_act", "stage3.unit2.quant_convbn1",
        "stage3.unit2.quant_act1", "stage3.unit2.quant_convbn2", "stage3.unit2.quant_act2", "stage3.unit2.quant_convbn3",
        "stage3.unit2.quant_act_int32", "stage3.unit3.quant_act", "stage3.unit3.quant_convbn1", "stage3.unit3.quant_act1",
        "stage3.unit3.quant_convbn2", "stage3.unit3.quant_act2", "stage3.unit3.quant_convbn3", "stage3.unit3.quant_act_int32",
        "stage3.unit4.quant_act", "stage3.unit4.quant_convbn1", "stage3.unit4.quant_act1", "stage3.unit4.quant_convbn2",
        "stage3.unit4.quant_act2", "stage3.unit4.quant_convbn3", "stage3.unit4.quant_act_int32", "stage3.unit5.quant_act",
        "stage3.unit5.quant_convbn1", "stage3.unit5.quant_act1", "stage3.unit5.quant_convbn2", "stage3.unit5.quant_act2",
        "stage3.unit5.quant_convbn3", "stage3.unit5.quant_act_int32", "stage3.unit6.quant_act", "stage3.unit6.quant_convbn1",
        "stage3.unit6.quant_act1", "stage3.unit6.quant_convbn2", "stage3.unit6.quant_act2", "stage3.unit6.quant_convbn3",
        "stage3.unit6.quant_act_int32", "stage4.unit1.quant_act", "stage4.unit1.quant_convbn1", "stage4.unit1.quant_act1",
        "stage4.unit1.quant_convbn2", "stage4.unit1.quant_act2", "stage4.unit1.quant_convbn3", "stage4.unit1.quant_identity_convbn",
        "stage4.unit1.quant_act_int32", "stage4.unit2.quant_act", "stage4.unit2.quant_convbn1", "stage4.unit2.quant_act1",
        "stage4.unit2.quant_convbn2", "stage4.unit2.quant_act2", "stage4.unit2.quant_convbn3", "stage4.unit2.quant_act_int32",
        "stage4.unit3.quant_act", "stage4.unit3.quant_convbn1", "stage4.unit3.quant_act1", "stage4.unit3.quant_convbn2",
        "stage4.unit3.quant_act2", "stage4.unit3.quant_convbn3", "stage4.unit3.quant_act_int32", "quant_act_output",
        "quant_output",
    ),
}

BITS: dict[str, dict[str, tuple[int, ...]]] = {
    "resnet18": {
        "uniform8": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16,
            8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8,
        ),
        "uniform4": (
            8, 8, 16, 4, 4, 4, 4, 16, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 16,
            4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 16, 8, 8,
        ),
        "modelsize_0.75": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16,
            8, 8, 4, 4, 16, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 16, 8, 8,
        ),
        "modelsize_0.5": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16,
            8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 16, 4, 4, 4, 4, 16, 8, 8,
        ),
        "modelsize_0.25": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16,
            8, 8, 8, 8, 16, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 16, 8, 8,
        ),
        "bops_0.75": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 16, 8, 8, 8, 8, 8, 16,
            8, 8, 4, 4, 16, 8, 8, 4, 4, 8, 16, 8, 8, 4, 4, 16, 8, 8,
        ),
        "bops_0.5": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 4, 4, 16, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 16, 8, 8, 8, 8, 8, 16,
            4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 16, 8, 8,
        ),
        "bops_0.25": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 4, 4, 16, 8, 8, 4, 4, 8, 16, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 16,
            4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 16, 8, 8,
        ),
        "latency_0.75": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 16, 8, 8, 8, 8, 8, 16,
            8, 8, 4, 4, 16, 8, 8, 4, 4, 8, 16, 8, 8, 4, 4, 16, 8, 8,
        ),
        "latency_0.5": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 16, 8, 8, 4, 4, 16, 8, 8, 8, 8, 8, 16,
            4, 4, 4, 4, 16, 8, 8, 4, 4, 8, 16, 4, 4, 4, 4, 16, 8, 8,
        ),
        "latency_0.25": (
            8, 8, 16, 8, 8, 8, 8, 16, 8, 8, 4, 4, 16, 8, 8, 4, 4, 8, 16, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 16,
            4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 16, 8, 8,
        ),
    },
    "resnet50": {
        "uniform8": (
            8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8,
            8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8,
            8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16,
            8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8,
            8,
        ),
        "uniform4": (
            8, 8, 16, 4, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4,
            4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4,
            4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16,
            4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 8,
            8,
        ),
        "modelsize_0.75": (
            8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8,
            8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8,
            8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16,
            8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8,
            8,
        ),
        "modelsize_0.5": (
            8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8,
            8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8,
            8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16,
            8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8, 8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8,
            8,
        ),
        "modelsize_0.25": (
            8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8,
            8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8,
            8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16,
            4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 8, 8, 4, 16, 4, 4, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8,
            8,
        ),
        "bops_0.75": (
            8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 8, 8, 8,
            8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8,
            8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16,
            8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8,
            8,
        ),
        "bops_0.5": (
            8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8,
            8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8,
            8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16,
            8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8,
            8,
        ),
        "bops_0.25": (
            8, 8, 16, 8, 8, 4, 4, 8, 8, 8, 16, 4, 4, 4, 4, 8, 8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 8,
            8, 8, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 8, 8,
            8, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16,
            4, 4, 4, 4, 4, 4, 16, 8, 8, 4, 4, 8, 8, 8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8,
            8,
        ),
        "latency_0.75": (
            8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8,
            8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8,
            8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16,
            8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8,
            8,
        ),
        "latency_0.5": (
            8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 8,
            8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8,
            8, 16, 4, 4, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16,
            8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8,
            8,
        ),
        "latency_0.25": (
            8, 8, 16, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 4, 4, 8, 8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 8,
            8, 8, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 4, 4, 4, 4, 8, 8,
            4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16, 4, 4, 4, 4, 4, 4, 16,
            8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 8, 8, 8, 16, 8, 8, 4, 4, 4, 4, 16, 8, 8, 4, 4, 4, 4, 16, 8,
            8,
        ),
    },
}

__all__ = ["BITS", "NAMES"]
