"""Every registered block (and every variant) at every position: shapes, deploy form, registry behaviour.

Parametrised over list_available_blocks(), as timm's tests run over list_models(): a new block gets
these tests without editing this file.
"""
import copy

import pytest
import torch
from timm.utils.model import reparameterize_model

from blockzoo import POSITIONS, BlockzooError, ScaffoldNet, create_block, list_available_blocks, register_block
from blockzoo.blocks import get_block, import_block_modules, unregister_block
from blockzoo.blocks.registry import user_block_files
from blockzoo.cell import Cell, has_deploy_form
from blockzoo.settings import ScaffoldSpec

BLOCKS_MD = [
    "ResNetBasicBlock", "ResNetBottleneck", "InvertedResidual", "UniversalInvertedBottleneck", "EdgeResidual",
    "MBConvLNBlock", "MobileOneBlock", "ReparamLargeKernelConv", "RepMixer", "GhostBottleneckV3", "DYMicroBlock",
]
SPECS = [name for name in list_available_blocks()] + [
    f"{name}.{variant}" for name in list_available_blocks() for variant in get_block(name).variants
]
# (in, out, stride, input size) of each stage's transition block and of its later blocks
STAGE_SHAPES = {"early": [(64, 64, 1, 32)], "mid": [(64, 128, 2, 32), (128, 128, 1, 16)],
                "late": [(128, 256, 2, 16), (256, 256, 1, 8)]}


def test_the_blocks_of_the_definition_are_registered():
    assert set(BLOCKS_MD) <= set(list_available_blocks())


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("spec", SPECS)
def test_block_output_shape(spec, position):
    for in_ch, out_ch, stride, size in STAGE_SHAPES[position]:
        block = create_block(spec, in_ch, out_ch, stride, position)
        y = block(torch.randn(2, in_ch, size, size))
        assert y.shape == (2, out_ch, size // stride, size // stride)


def _with_trained_batchnorm_stats(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """A few train-mode forwards move BN running stats away from 0/1, so fusion is really exercised."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x + 0.5 * torch.randn_like(x))
    return model.eval()


REPARAMETERISING = [spec for spec in SPECS if has_deploy_form(ScaffoldNet(spec, "mid", num_blocks=1, base_channels=8))]


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("spec", REPARAMETERISING)
def test_deploy_form_matches_train_form(spec, position):
    torch.manual_seed(0)
    net = ScaffoldNet(spec, position, num_blocks=2, base_channels=16)
    x = torch.randn(4, 3, 32, 32)
    _with_trained_batchnorm_stats(net, x)
    deploy = reparameterize_model(copy.deepcopy(net))
    with torch.no_grad():
        expected, got = net(x), deploy(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_reparameterising_blocks_fold_branches_away():
    for name in ("MobileOneBlock", "ReparamLargeKernelConv", "RepMixer", "GhostBottleneckV3"):
        net = ScaffoldNet(name, "mid", num_blocks=2)
        deploy = reparameterize_model(copy.deepcopy(net).eval())
        assert sum(p.numel() for p in deploy.parameters()) < sum(p.numel() for p in net.parameters()), name


def test_variants_change_what_they_say():
    # uniform: the mid stage's configuration at every position
    for name in ("InvertedResidual", "EdgeResidual", "GhostBottleneckV3", "UniversalInvertedBottleneck"):
        late_default = sum(p.numel() for p in create_block(name, 128, 256, 2, "late").parameters())
        late_uniform = sum(p.numel() for p in create_block(f"{name}.uniform", 128, 256, 2, "late").parameters())
        mid = sum(p.numel() for p in create_block(name, 128, 256, 2, "mid").parameters())
        assert late_uniform == mid != late_default, name
    # identity: no projection where the shapes match, the projection where they change
    assert create_block("ResNetBasicBlock.identity", 64, 64, 1, "mid").downsample is None
    assert create_block("ResNetBasicBlock", 64, 64, 1, "mid").downsample is not None
    assert create_block("ResNetBasicBlock.identity", 64, 128, 2, "mid").downsample is not None
    assert create_block("ResNetBottleneck.identity", 128, 128, 1, "late").downsample is None


def test_a_variant_cell_is_a_distinct_cell():
    assert Cell("ResNetBasicBlock", "mid").name == "ResNetBasicBlock"
    assert Cell("ResNetBasicBlock.identity", "mid").name == "ResNetBasicBlock.identity-mid"
    assert Cell("InvertedResidual.uniform", "late").name == "InvertedResidual.uniform-late"


def test_unknown_block_or_variant_names_the_closest_matches():
    with pytest.raises(BlockzooError) as info:
        create_block("GhostBottleneckV2", 64, 64, 1, "mid")
    assert "GhostBottleneckV3" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(BlockzooError, match="RepMixer has no variant 'uniform'; its variants: none"):
        create_block("RepMixer.uniform", 64, 64, 1, "mid")
    with pytest.raises(BlockzooError, match="no variant 'wide'; its variants: uniform"):
        create_block("InvertedResidual.wide", 64, 64, 1, "mid")


def test_bad_position_is_a_clear_error():
    with pytest.raises(BlockzooError, match="unknown position 'middle'.*early, mid, late"):
        create_block("ResNetBasicBlock", 64, 64, 1, "middle")


def _write(path, body: str):
    path.write_text("from torch import nn\nfrom blockzoo import register_block\n\n" + body)
    return path


def test_user_block_module_registers_with_one_decorator(tmp_path):
    module = _write(tmp_path / "plain_conv_blocks.py", (
        "@register_block()\n"
        "def TestOnlyPlainConv(in_channels, out_channels, stride, position):\n"
        "    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.BatchNorm2d(out_channels))\n"))
    try:
        import_block_modules([str(module)])
        assert "TestOnlyPlainConv" in list_available_blocks()
        net = Cell("TestOnlyPlainConv", "late").build()
        assert net(torch.randn(1, 3, 32, 32)).shape == (1, 100)
    finally:
        unregister_block("TestOnlyPlainConv")
    assert "TestOnlyPlainConv" not in list_available_blocks()


@pytest.mark.parametrize("body,message", [
    ("def broken(:\n    pass\n", r"failed to import: SyntaxError: .*\(line 4\); fix the module"),
    ("raise RuntimeError('no GPU here')\n", r"failed to import: RuntimeError: no GPU here \(line 4 of .*\); fix"),
    ("import no_such_package_for_blockzoo\n", r"failed to import: ModuleNotFoundError: No module named"),
    ("import sys\nsys.exit(3)\n", r"failed to import: SystemExit: 3 \(line 5 of failing_.*\.py\); fix the module"),
])
def test_a_user_module_that_fails_to_import_is_one_line(tmp_path, body, message):
    module = _write(tmp_path / f"failing_{abs(hash(body))}.py", body)
    with pytest.raises(BlockzooError, match=message) as info:
        import_block_modules([str(module)])
    assert "\n" not in str(info.value)


def test_a_user_block_that_breaks_the_contract_is_one_line(tmp_path):
    module = _write(tmp_path / "contract_breaking_blocks.py", (
        "@register_block()\n"
        "def TestOnlyIgnoresStride(in_channels, out_channels, stride, position):\n"
        "    return nn.Conv2d(in_channels, out_channels, 3, 1, 1)\n\n"
        "@register_block()\n"
        "def TestOnlyCrashes(in_channels, out_channels, stride, position):\n"
        "    return nn.Linear(in_channels, out_channels)\n"))
    try:
        import_block_modules([str(module)])
        with pytest.raises(BlockzooError, match=r"block TestOnlyIgnoresStride \(.*contract_breaking_blocks.py; mid "
                                                r"stage, block 0: 64->128 channels, stride 2\) returned "
                                                r"\(2, 128, 32, 32\).*expected \(2, 128, 16, 16\)"):
            Cell("TestOnlyIgnoresStride", "mid").build()
        with pytest.raises(BlockzooError, match=r"block TestOnlyCrashes \(.*; early stage, block 0: .*\) raised "
                                                r"RuntimeError: .* on an input of \(2, 64, 32, 32\); fix the block's"):
            Cell("TestOnlyCrashes", "early").build()
        Cell("TestOnlyIgnoresStride", "early").build()  # stride 1 everywhere in the early stage: it holds there
    finally:
        unregister_block("TestOnlyIgnoresStride")
        unregister_block("TestOnlyCrashes")


def test_a_module_whose_own_import_is_missing_is_not_called_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nbtest_blocks.py").write_text("import nbtest\n")  # a missing package whose name starts the same
    with pytest.raises(BlockzooError, match=r"block module nbtest_blocks failed to import: ModuleNotFoundError: "
                                            r"No module named 'nbtest' \(line 1 of nbtest_blocks.py\)"):
        import_block_modules(["nbtest_blocks"])


def test_a_folder_of_block_modules_imports_each_of_them(tmp_path):
    (tmp_path / "my_blocks").mkdir()
    for name in ("FolderTestA", "FolderTestB"):
        _write(tmp_path / "my_blocks" / f"{name.lower()}.py", f"@register_block\ndef {name}(i, o, s, p):\n"
                                                              "    return nn.Conv2d(i, o, 3, s, 1)\n")
    try:
        import_block_modules([str(tmp_path / "my_blocks")])
        assert {"FolderTestA", "FolderTestB"} <= set(list_available_blocks())
    finally:
        unregister_block("FolderTestA")
        unregister_block("FolderTestB")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BlockzooError, match="block module folder .*empty holds no .py files"):
        import_block_modules([str(tmp_path / "empty")])


def test_an_unknown_block_after_a_module_that_registered_none_names_the_decorator(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("blockzoo.blocks.registry._USER_MODULES", {})  # this test's module only, and not after it
    _write(tmp_path / "undecorated_blocks.py", "def Undecorated(i, o, s, p):\n    return nn.Identity()\n")
    import_block_modules(["undecorated_blocks.py"])
    with pytest.raises(BlockzooError, match=r"unknown block 'Undecorated'; .*\(undecorated_blocks.py registered no "
                                            r"block: decorate each builder with @register_block\(\)"):
        get_block("Undecorated")


def test_missing_user_module_is_a_clear_error():
    with pytest.raises(BlockzooError, match="cannot be imported"):
        import_block_modules(["no_such_module_for_blockzoo"])
    with pytest.raises(BlockzooError, match="does not exist"):
        import_block_modules(["nowhere/my_blocks.py"])


def test_registering_a_taken_name_from_another_module_fails():
    def ResNetBasicBlock(in_channels, out_channels, stride, position):  # noqa: N802 - the clash is the point
        raise AssertionError("never built")

    ResNetBasicBlock.__module__ = "someone_elses_module"
    with pytest.raises(BlockzooError, match="already registered"):
        register_block()(ResNetBasicBlock)


def test_block_names_must_name_files_and_stages():
    with pytest.raises(BlockzooError, match="not valid"):
        register_block("My-Block")(lambda i, o, s, p: None)


PIPELINE_MISBEHAVIOURS = {  # a module under user_blocks/, as the pipeline's cells stage loads and builds it
    "raises": ("@register_block\ndef PipeRaises(in_channels, out_channels, stride, position):\n"
               "    raise KeyError(position)\n",
               r"block PipeRaises \(user_blocks/pipe_raises.py\) raised KeyError: 'mid' when built as "
               r"PipeRaises\(16, 32, 2, 'mid'\); fix the builder; it is called as PipeRaises\(in_channels, "
               r"out_channels, stride, position\)"),
    "none": ("@register_block\ndef PipeNone(in_channels, out_channels, stride, position):\n    return None\n",
             r"block PipeNone \(user_blocks/pipe_none.py\) returned None when built as .*not a torch.nn.Module"),
    "non_module": ("@register_block\ndef PipeNonModule(in_channels, out_channels, stride, position):\n"
                   "    return nn.Conv2d\n",
                   r"block PipeNonModule \(user_blocks/pipe_non_module.py\) returned <class .*Conv2d'> \(of type "
                   r"type\) when built as"),
    "wrong_arguments": ("@register_block\ndef PipeWrongArguments(channels, stride):\n    return nn.Identity()\n",
                        r"block PipeWrongArguments \(user_blocks/pipe_wrong_arguments.py\) takes the wrong arguments "
                        r"\(too many positional arguments; its signature is \(channels, stride\)\)"),
    "wrong_shape": ("@register_block\ndef PipeWrongShape(in_channels, out_channels, stride, position):\n"
                    "    return nn.Conv2d(in_channels, in_channels, 1, stride)\n",
                    r"block PipeWrongShape \(user_blocks/pipe_wrong_shape.py; mid stage, block 0: 16->32 channels, "
                    r"stride 2\) returned \(2, 16, 16, 16\) for an input of \(2, 16, 32, 32\); expected "
                    r"\(2, 32, 16, 16\)"),
    "syntax_error": ("def PipeSyntaxError(:\n", r"block module user_blocks/pipe_syntax_error.py failed to import: "
                                                 r"SyntaxError: .*\(line 4\); fix the module"),
    "import_error": ("from torch import no_such_name\n", r"block module user_blocks/pipe_import_error.py failed to "
                                                        r"import: ImportError: cannot import name 'no_such_name' "
                                                        r"from 'torch'.*\(line 4 of pipe_import_error.py\)"),
}


@pytest.mark.parametrize("case", PIPELINE_MISBEHAVIOURS)
def test_a_misbehaving_module_in_user_blocks_stops_the_cells_stage_with_one_line(case, tmp_path, monkeypatch):
    body, message = PIPELINE_MISBEHAVIOURS[case]
    monkeypatch.chdir(tmp_path)  # the stages run in the repository root, which holds user_blocks/
    (tmp_path / "user_blocks").mkdir()
    _write(tmp_path / "user_blocks" / f"pipe_{case}.py", body)
    block = "Pipe" + "".join(word.title() for word in case.split("_"))
    try:
        with pytest.raises(BlockzooError, match=message) as info:
            # what stages/cells.py does: import every module of user_blocks/, then build every cell once
            import_block_modules(user_block_files(tmp_path / "user_blocks"))
            Cell.from_name(f"{block}-mid", ScaffoldSpec(num_blocks=1, base_channels=16)).build()
        assert "\n" not in str(info.value)
    finally:
        unregister_block(block)


def test_a_zoo_block_that_the_scaffold_widths_break_says_so_not_fix_the_builder():
    with pytest.raises(BlockzooError, match=r"block ResNetBottleneck \(.*blockzoo/blocks/resnet.py; early stage, "
                                            r"block 0: 2->2 channels, stride 1\) raised RuntimeError: .*its widths "
                                            r"come from the scaffold: try another base_channels") as info:
        Cell("ResNetBottleneck", "early", ScaffoldSpec(num_blocks=1, base_channels=2)).build()
    assert "fix the" not in str(info.value)


def test_a_block_that_assumes_one_image_or_eval_mode_fails_the_contract_check(tmp_path):
    module = _write(tmp_path / "batch_and_mode_blocks.py", (
        "@register_block()\n"
        "class TestOnlyOneImage(nn.Conv2d):\n"
        "    def __init__(self, in_channels, out_channels, stride, position):\n"
        "        super().__init__(in_channels, out_channels, 3, stride, 1)\n\n"
        "    def forward(self, x):\n"
        "        return super().forward(x).view(1, *x.shape[1:2], *super().forward(x).shape[2:])\n\n"
        "@register_block()\n"
        "class TestOnlyEval(nn.Conv2d):\n"
        "    def __init__(self, in_channels, out_channels, stride, position):\n"
        "        super().__init__(in_channels, out_channels, 3, stride, 1)\n\n"
        "    def forward(self, x):\n"
        "        if self.training:\n"
        "            raise RuntimeError('not in training')\n"
        "        return super().forward(x)\n"))
    try:
        import_block_modules([str(module)])
        with pytest.raises(BlockzooError, match=r"block TestOnlyOneImage \(.*early stage.*\) raised RuntimeError"):
            Cell("TestOnlyOneImage", "early", ScaffoldSpec(num_blocks=1, base_channels=8)).build()
        with pytest.raises(BlockzooError, match=r"block TestOnlyEval \(.*\) raised RuntimeError: not in training in "
                                                r"training mode on an input of \(2, 8, 32, 32\); fix the block's"):
            Cell("TestOnlyEval", "mid", ScaffoldSpec(num_blocks=1, base_channels=8)).build()
    finally:
        unregister_block("TestOnlyOneImage")
        unregister_block("TestOnlyEval")


def test_the_contract_check_leaves_the_network_and_the_random_stream_as_they_were():
    from blockzoo.cell import check_block_contract

    torch.manual_seed(0)
    net = ScaffoldNet("ResNetBasicBlock", "mid", num_blocks=1, base_channels=8)
    before = copy.deepcopy(net.state_dict())
    state = torch.random.get_rng_state()
    check_block_contract(net)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())
    assert net.training
