"""The package as users install it: the wheel's contents, ``mmdet_rla::`` config paths, the command line.

The wheel is built from a copy of this source tree with the environment's own setuptools (no network,
no build isolation), installed with ``pip install --target`` into a folder outside the checkout, and
used from another folder with the checkout off ``sys.path``: a detector built from an ``mmdet_rla::``
config, ``_base_`` lines through the installed copies, a tool's ``--help`` through the console script,
and one training iteration of the demo config.
"""

import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap
import zipfile
from typing import Dict, List

import pytest
import yaml
from conftest import PYTHON, REPO_ROOT
from mmengine.config import Config

import mmdet_rla
from mmdet_rla import cli
from mmdet_rla.config_paths import CONFIG_DIR, MIM_DIR, MODEL_INDEX, config_path

DEMO = '_demo_/fcos_rla-r18-tiny_fpn_gn-head_shapes.py'
LAUNCHERS = ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh')
# What is not source, at the top of the tree: the environment, build outputs, caches, run outputs.
NOT_SOURCE = {
    '.venv',
    '.git',
    'build',
    'dist',
    'mmdet_rla.egg-info',
    '.pytest_cache',
    '.cache',
    'work_dirs',
    'data',
    '.ruff_cache',
}


def not_source(folder: str, names: List[str]) -> List[str]:
    """``shutil.copytree``'s ``ignore``: the top-level folders of NOT_SOURCE, and ``__pycache__`` anywhere."""
    top = osp.realpath(folder) == osp.realpath(REPO_ROOT)
    return [name for name in names if name == '__pycache__' or (top and name in NOT_SOURCE)]


def source_files(folder: str) -> Dict[str, bytes]:
    """``{path relative to the repository: bytes}`` of every file under ``folder`` of the checkout."""
    files = {}
    for path in glob.glob(osp.join(REPO_ROOT, folder, '**', '*'), recursive=True):
        if osp.isfile(path) and '__pycache__' not in path:
            with open(path, 'rb') as file:
                files[osp.relpath(path, REPO_ROOT)] = file.read()
    return files


# ------------------------------------------------------------------ config paths, from the checkout
def test_mmdet_rla_config_paths_name_the_files_of_configs():
    path = config_path('mmdet_rla::rla/faster-rcnn_rla-r50_fpn_1x_coco.py')
    assert path == osp.join(CONFIG_DIR, 'rla', 'faster-rcnn_rla-r50_fpn_1x_coco.py')
    with (
        open(path, 'rb') as ours,
        open(osp.join(REPO_ROOT, 'configs', 'rla', 'faster-rcnn_rla-r50_fpn_1x_coco.py'), 'rb') as source,
    ):
        assert ours.read() == source.read()
    assert mmdet_rla.config_path is config_path
    assert config_path('configs/x.py') == 'configs/x.py'  # file paths pass through
    mmdet_path = config_path('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py')  # other packages: mmengine's lookup
    assert osp.isfile(mmdet_path) and osp.join('mmdet', '.mim', 'configs') in mmdet_path
    with pytest.raises(FileNotFoundError, match="'mmdet_rla::rla/missing.py': mmdet_rla has no such config"):
        config_path('mmdet_rla::rla/missing.py')
    with pytest.raises(ValueError, match="'nonesuch::a/b.py': the prefix must name a package with configs, one of"):
        config_path('nonesuch::a/b.py')


def test_the_package_folder_links_to_configs_and_the_model_index():
    """One copy in git: mmdet_rla/.mim holds links to configs/, model-index.yml and tools/ of the tree."""
    for name, target in (('configs', 'configs'), ('model-index.yml', 'model-index.yml'), ('tools', 'tools')):
        link = osp.join(MIM_DIR, name)
        assert osp.islink(link) and os.readlink(link) == osp.join('..', '..', target)
        assert osp.realpath(link) == osp.realpath(osp.join(REPO_ROOT, target))


def test_model_index_lists_every_metafile_and_their_configs_exist():
    with open(MODEL_INDEX, encoding='utf-8') as file:
        imports = yaml.safe_load(file)['Import']
    metafiles = sorted(
        osp.relpath(p, REPO_ROOT)
        for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', 'metafile.yml'), recursive=True)
    )
    assert sorted(imports) == metafiles
    for metafile in imports:
        with open(osp.join(MIM_DIR, metafile), encoding='utf-8') as file:
            for model in yaml.safe_load(file)['Models']:
                assert model['Config'].startswith('configs/') and osp.isfile(osp.join(MIM_DIR, model['Config']))


def test_mmengine_resolves_mmdet_rla_in_base_lines_and_get_config(tmp_path):
    """After ``import mmdet_rla``: a user's config inheriting ours, and mmengine.hub.get_config (through the
    metafiles of model-index.yml), read the package's files."""
    from mmengine.hub import get_config

    user_config = tmp_path / 'mine.py'
    user_config.write_text(f"_base_ = 'mmdet_rla::{DEMO}'\nmodel = dict(backbone=dict(rla_channels=8))\n")
    cfg = Config.fromfile(str(user_config))
    assert cfg.model.backbone.type == 'RLAResNet' and cfg.model.backbone.rla_channels == 8
    assert cfg.model.bbox_head.type == 'FCOSHead'  # from the demo's own _base_, mmdet::fcos/...
    cfg = get_config('mmdet_rla::rla/faster-rcnn_rla-r50_fpn_1x_coco.py')
    assert cfg.filename == osp.join(MIM_DIR, 'configs', 'rla', 'faster-rcnn_rla-r50_fpn_1x_coco.py')
    assert cfg.model.backbone.type == 'RLAResNet'


# --------------------------------------------------------------------------------- the tools
# Steps of tools/setup_env.sh, not user tools: setup_plan.py runs under the system Python before the virtual
# environment exists (so it needs the standard library only), check_mmcv_ops.py checks the freshly built mmcv
# before the package is installed.
SETUP_STEPS = ('setup_plan.py', 'check_mmcv_ops.py')


def test_setup_steps_are_what_setup_env_runs_and_setup_plan_needs_only_the_standard_library():
    with open(osp.join(REPO_ROOT, 'tools', 'setup_env.sh'), encoding='utf-8') as file:
        setup = file.read()
    assert all(f'tools/{step}' in setup for step in SETUP_STEPS)
    with open(osp.join(REPO_ROOT, 'tools', 'setup_plan.py'), encoding='utf-8') as file:
        imports = [line.split()[1].split('.')[0] for line in file if line.startswith(('import ', 'from '))]
    assert imports and all(name in sys.stdlib_module_names for name in imports), imports


def test_every_tool_is_a_package_module_that_mmdet_rla_dispatches_and_tools_runs(capsys):
    """Every module of mmdet_rla.cli is a tool of TOOLS; each tools/*.py runs one of them; every tool answers
    --help as 'mmdet-rla TOOL' (the launchers, which hand over to their shell script, name a script the
    package carries)."""
    folder = osp.dirname(cli.__file__)
    modules = sorted(osp.splitext(osp.basename(p))[0] for p in glob.glob(osp.join(folder, '*.py')))
    modules = [m for m in modules if m not in ('__init__', '__main__')]
    assert sorted(cli.module_name(tool).rpartition('.')[2] for tool in cli.TOOLS) == modules
    wrapped = set()
    for wrapper in glob.glob(osp.join(REPO_ROOT, 'tools', '**', '*.py'), recursive=True):
        with open(wrapper, encoding='utf-8') as file:
            text = file.read()
        if osp.basename(wrapper) in SETUP_STEPS:
            continue
        module = text.split('from mmdet_rla.cli.')[1].split(' ')[0]
        assert f'from mmdet_rla.cli.{module} import main' in text and 'run_tool(main)' in text, wrapper
        wrapped.add(module)
    assert wrapped <= set(modules) and len(wrapped) >= 18  # the 18 Python tools of tools/ (at least)
    for tool in cli.TOOLS:
        with open(osp.join(folder, cli.module_name(tool).rpartition('.')[2] + '.py'), encoding='utf-8') as file:
            source = file.read()
        if 'run_launcher(' in source:
            script = source.split('run_launcher(')[1].split("'")[1]
            assert osp.isfile(osp.join(MIM_DIR, 'tools', script)), tool
            continue
        argv = list(sys.argv)
        try:
            with pytest.raises(SystemExit) as stop:
                cli.main([tool, '--help'])
        finally:
            sys.argv[:] = argv
        assert stop.value.code == 0, tool
        assert capsys.readouterr().out.startswith(f'usage: mmdet-rla {tool} '), tool


def test_dispatcher_lists_the_tools_and_refuses_others(capsys):
    cli.main([])
    listing = capsys.readouterr().out
    assert all(f'  {tool} ' in listing for tool in cli.TOOLS)
    with pytest.raises(SystemExit, match=r"^mmdet-rla: error: TOOL must be one of \['train', 'test', .*got 'trian'"):
        cli.main(['trian'])


# ------------------------------------------------------------------------ the wheel, installed
@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> str:
    """The wheel built from a copy of the source tree (the tree's own build/ is left alone)."""
    root = tmp_path_factory.mktemp('wheel')
    source = str(root / 'source')
    shutil.copytree(REPO_ROOT, source, symlinks=True, ignore=not_source)
    done = subprocess.run(
        [
            PYTHON,
            '-m',
            'pip',
            'wheel',
            '--no-deps',
            '--no-build-isolation',
            '--no-index',
            '--disable-pip-version-check',
            '-q',
            '-w',
            str(root / 'dist'),
            source,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheels = glob.glob(str(root / 'dist' / 'mmdet_rla-*-py3-none-any.whl'))
    assert [osp.basename(w) for w in wheels] == [f'mmdet_rla-{mmdet_rla.__version__}-py3-none-any.whl']
    return wheels[0]


def test_wheel_carries_configs_metafiles_model_index_kernel_source_and_launchers(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        packaged = {name: archive.read(name) for name in names}
        dist_info = f'mmdet_rla-{mmdet_rla.__version__}.dist-info'
        metadata = archive.read(f'{dist_info}/METADATA').decode()
        entry_points = archive.read(f'{dist_info}/entry_points.txt').decode()
    configs = source_files('configs')
    assert len(configs) > 100 and any(p.endswith('metafile.yml') for p in configs)
    for path, content in configs.items():
        assert packaged.get(f'mmdet_rla/.mim/{path}') == content, path
    assert {n for n in names if n.startswith('mmdet_rla/.mim/configs/')} == {f'mmdet_rla/.mim/{p}' for p in configs}
    with open(osp.join(REPO_ROOT, 'model-index.yml'), 'rb') as file:
        assert packaged['mmdet_rla/.mim/model-index.yml'] == file.read()
    for source in source_files(osp.join('mmdet_rla', 'ops', 'csrc')):
        assert source.replace(os.sep, '/') in names
    for launcher in LAUNCHERS:
        with open(osp.join(REPO_ROOT, 'tools', launcher), 'rb') as file:
            assert packaged[f'mmdet_rla/.mim/tools/{launcher}'] == file.read()
    # The package and its metadata only: no tests/, tools/ or configs/ at the top of site-packages.
    assert {name.split('/')[0] for name in names} == {'mmdet_rla', dist_info}
    assert 'License-Expression: Apache-2.0' in metadata and f'{dist_info}/licenses/LICENSE' in names
    assert 'mmdet-rla = mmdet_rla.cli:main' in entry_points


INSTALLED_CHECK = """
import json, os, sys
site, out = sys.argv[1], sys.argv[2]
# The checkout must not be importable: no editable-install finder, no path of it.
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, '__module__', '').startswith('__editable__')]
sys.path_hooks[:] = [h for h in sys.path_hooks if not getattr(h, '__module__', '').startswith('__editable__')]
sys.path_importer_cache.clear()
sys.path[:] = [p for p in sys.path if p == site or not os.path.isdir(os.path.join(p or '.', 'mmdet_rla'))]
import mmdet_rla
from mmdet_rla.cli import main
from mmdet_rla.registry import build_model  # noqa: F401  (the registries, as users import them)
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
import inspect
report = dict(package=mmdet_rla.__file__)
path = mmdet_rla.config_path('mmdet_rla::rla/faster-rcnn_rla-r50_fpn_1x_coco.py')
cfg = Config.fromfile(path)
cfg.model.backbone.init_cfg = None
register_all_modules(init_default_scope=False)
with DefaultScope.overwrite_default_scope('mmdet'):
    detector = MODELS.build(cfg.model)
report.update(config=path, detector=type(detector).__name__, backbone=type(detector.backbone).__name__,
              backbone_file=inspect.getfile(type(detector.backbone)))
# _base_ lines through the installed copies: relative ('../rla/...'), './...' and 'mmdet_rla::...'.
with open('mine.py', 'w') as f:
    f.write("_base_ = 'mmdet_rla::_demo_/fcos_ror-r18-tiny_fpn_gn-head_shapes.py'\\n")
report['user_config_backbone'] = Config.fromfile('mine.py').model.backbone.type
cls = get_config('mmdet_rla::classification/resnet/resnet110_1xb128_cifar10.py')
report.update(cls_config=cls.filename, cls_backbone=cls.model.backbone.type, cls_epochs=cls.train_cfg.max_epochs,
              cls_dataset=cls.train_dataloader.dataset.type)
with open(out, 'w') as f:
    json.dump(report, f)
main(sys.argv[3:])
"""


def run_installed(args: List[str], site: str, cwd: str, env: Dict[str, str]) -> subprocess.CompletedProcess:
    env = dict(env, PYTHONPATH=site, PYTHONSAFEPATH='1')
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_installed_wheel_builds_detectors_and_trains_from_mmdet_rla_paths_outside_the_checkout(
    wheel, tmp_path, synthetic_coco, subprocess_env
):
    site, run_dir = str(tmp_path / 'site'), tmp_path / 'elsewhere'
    run_dir.mkdir()
    done = subprocess.run(
        [
            PYTHON,
            '-m',
            'pip',
            'install',
            '--no-deps',
            '--no-index',
            '--disable-pip-version-check',
            '-q',
            '--target',
            site,
            wheel,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    # The console script: a tool's --help.
    script = osp.join(site, 'bin', 'mmdet-rla')
    done = run_installed([PYTHON, script, 'train', '--help'], site, str(run_dir), subprocess_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith('usage: mmdet-rla train ') and '--resume' in done.stdout

    # One training iteration of the demo config, named mmdet_rla::_demo_/..., after the checks of the package.
    root, work_dir, report_file = synthetic_coco['root'], str(tmp_path / 'work'), str(tmp_path / 'report.json')
    options = [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={synthetic_coco["val_ann"]}',
        f'test_evaluator.ann_file={synthetic_coco["val_ann"]}',
        'train_dataloader.batch_size=8',
        'train_cfg.max_epochs=1',
        'train_cfg.val_interval=2',
        'default_hooks.logger.interval=1',
    ]
    done = run_installed(
        [
            PYTHON,
            '-c',
            textwrap.dedent(INSTALLED_CHECK),
            site,
            report_file,
            'train',
            f'mmdet_rla::{DEMO}',
            '--work-dir',
            work_dir,
            '--cfg-options',
            *options,
        ],
        site,
        str(run_dir),
        subprocess_env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    with open(report_file, encoding='utf-8') as file:
        report = json.load(file)
    installed = osp.join(site, 'mmdet_rla')
    assert report['package'] == osp.join(installed, '__init__.py')
    assert report['config'] == osp.join(installed, '.mim', 'configs', 'rla', 'faster-rcnn_rla-r50_fpn_1x_coco.py')
    assert (report['detector'], report['backbone']) == ('FasterRCNN', 'RLAResNet')
    assert report['backbone_file'].startswith(installed + os.sep)
    assert report['user_config_backbone'] == 'RoRResNet'
    assert report['cls_config'].startswith(osp.join(installed, '.mim', 'configs', 'classification') + os.sep)
    # Its own backbone, the 300 epochs of '../rla/rla-resnet110_1xb128_cifar10.py', its mmpretrain:: base's dataset.
    assert (report['cls_backbone'], report['cls_epochs'], report['cls_dataset']) == ('RoRResNet', 300, 'CIFAR10')
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert 'Epoch(train) [1][1/1]' in done.stdout + done.stderr


def test_tools_scripts_still_run_from_the_checkout_without_the_package_installed(tmp_path, subprocess_env):
    """tools/*.py put the checkout on sys.path themselves: run with only site-packages' dependencies."""
    done = subprocess.run(
        [
            PYTHON,
            '-S',
            '-c',
            textwrap.dedent(f"""
        import runpy, site, sys
        for path in {[p for p in sys.path if p.endswith('site-packages')]!r}:
            sys.path.append(path)  # the dependencies, without the .pth files of an editable install
        sys.argv = ['make_coco_dataset.py', {str(tmp_path)!r}, '--num-train', '1', '--num-val', '1',
                    '--size', '96', '96']
        runpy.run_path({osp.join(REPO_ROOT, 'tools', 'misc', 'make_coco_dataset.py')!r}, run_name='__main__')
        import mmdet_rla
        print('imported from', mmdet_rla.__file__)
        """),
        ],
        cwd=str(tmp_path),
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f'imported from {osp.join(REPO_ROOT, "mmdet_rla", "__init__.py")}' in done.stdout
    assert osp.isfile(tmp_path / 'annotations' / 'instances_train.json')


def test_mmengine_finds_the_imported_package_not_the_installed_distribution():
    """mmengine's lookup of the 'mmdet_rla::' prefix ends at the folder of the mmdet_rla this process imported.
    Registered under the distribution's name instead, an editable install would send it to
    site-packages/mmdet_rla, which does not exist."""
    from mmengine.config.utils import MODULE2PACKAGE
    from mmengine.utils import get_installed_path

    assert get_installed_path(MODULE2PACKAGE['mmdet_rla']) == osp.dirname(osp.abspath(mmdet_rla.__file__))
