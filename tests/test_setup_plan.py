"""tools/setup_plan.py: the setup's decisions about mmcv's ops (flavour, architectures, nvcc, wheel cache, stamp)
on made-up machines, and ``setup_env.sh --plan`` and ``tools/check_mmcv_ops.py`` run for real."""

import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f'{name}_tool', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


sp = _load('setup_plan')
# what torch 2.14.1's cuda-toolkit 13.0.3.0 names (of the components the registry route installs)
PINS = (
    ('nvidia-cublas', '13.1.1.3'),
    ('nvidia-cuda-cccl', '13.0.85'),
    ('nvidia-cuda-crt', '13.0.88'),
    ('nvidia-cuda-nvcc', '13.0.88'),
    ('nvidia-nvvm', '13.0.88'),
)
REGISTRY = (
    'nvidia-cuda-nvcc==13.0.88',
    'nvidia-nvvm==13.0.88',
    'nvidia-cuda-crt==13.0.88',
    'nvidia-cuda-cccl==13.0.85',
)
CUDA_TORCH = sp.TorchFacts(version='2.14.1+cu130', cuda='13.0', toolkit='13.0.3.0', toolkit_pins=PINS)
CPU_TORCH = sp.TorchFacts(version='2.14.1+cpu', cuda=None)
PREFIX = 'mmcv-2.1.0-torch2.14.1+cu130-cp311-x86_64'


def with_gpus(facts, *gpus):
    return sp.dataclasses.replace(facts, gpus=tuple(gpus))


# ------------------------------------------------------------------------------------------- flavour
@pytest.mark.parametrize(
    'value,expected', [(None, 'auto'), ('', 'auto'), ('auto', 'auto'), (' AUTO ', 'auto'), ('1', '1'), ('0', '0')]
)
def test_mode_values(value, expected):
    assert sp.parse_mode(value) == expected


@pytest.mark.parametrize('value', ['yes', 'true', '2', 'cuda'])
def test_bad_mode_is_one_line_naming_the_variable_and_values(value):
    with pytest.raises(sp.PlanError) as info:
        sp.parse_mode(value)
    message = str(info.value)
    assert '\n' not in message
    assert message.startswith('MMDET_RLA_MMCV_CUDA must be one of auto, 0, 1') and repr(value) in message


def test_auto_without_gpu_is_cpu():
    flavour = sp.decide_flavour('auto', CUDA_TORCH)
    assert (flavour.kind, flavour.tag, flavour.describe()) == ('cpu', 'cpu', 'cpu')


def test_auto_with_gpus_compiles_for_their_capabilities():
    flavour = sp.decide_flavour('auto', with_gpus(CUDA_TORCH, '9.0', '8.0', '9.0'))
    assert (flavour.kind, flavour.cuda, flavour.arches) == ('cuda', '13.0', ('8.0', '9.0'))
    assert flavour.arch_source == 'the visible GPUs'
    assert flavour.tag == 'cu13.0-arch8.0_9.0'
    assert flavour.describe() == 'cuda 13.0, arches 8.0 9.0'


def test_users_arch_list_wins_over_the_visible_gpus():
    flavour = sp.decide_flavour('auto', with_gpus(CUDA_TORCH, '8.0'), user_arches='9.0+PTX')
    assert flavour.arches == ('9.0+PTX',) and flavour.arch_source == 'TORCH_CUDA_ARCH_LIST'


def test_forced_cuda_without_gpu_uses_the_documented_default():
    flavour = sp.decide_flavour('1', CUDA_TORCH)
    assert flavour.kind == 'cuda'
    assert flavour.arches == ('7.5', '8.0', '8.6', '9.0', '10.0', '12.0') == sp.DEFAULT_ARCHES[13]
    assert flavour.arch_source.startswith('the default for CUDA 13')


def test_forced_cuda_with_cpu_torch_is_refused():
    with pytest.raises(sp.PlanError, match=r'MMDET_RLA_MMCV_CUDA=1 asks for CUDA ops, but torch 2.14.1\+cpu'):
        sp.decide_flavour('1', CPU_TORCH)


def test_forced_cpu_on_gpu_machine_is_cpu_and_says_what_fails():
    flavour = sp.decide_flavour('0', with_gpus(CUDA_TORCH, '9.0'))
    assert flavour.kind == 'cpu' and 'CUDA tensors' in flavour.why


def test_cpu_torch_with_gpu_in_auto_is_cpu():
    assert sp.decide_flavour('auto', with_gpus(CPU_TORCH, '9.0')).kind == 'cpu'


def test_torch_not_installed_yet_leaves_the_cuda_version_open():
    flavour = sp.decide_flavour('auto', sp.TorchFacts(version=None, gpus=('9.0',)))
    assert flavour.kind == 'cuda' and flavour.cuda is None and flavour.arches == ('9.0',)
    assert 'known once torch is installed' in flavour.describe()


# ------------------------------------------------------------------------------------- architectures
@pytest.mark.parametrize(
    'text,expected',
    [
        ('9.0', ('9.0',)),
        ('9.0;8.0 8.6', ('8.0', '8.6', '9.0')),
        ('Hopper', ('9.0+PTX',)),
        ('9.0 Hopper', ('9.0+PTX',)),  # 9.0+PTX carries 9.0's machine code too
        ('Ampere+Tegra;Ampere', ('8.0', '8.6+PTX', '8.7')),
        ('10.0;9.0a;12.0+PTX', ('9.0a', '10.0', '12.0+PTX')),
        ('12.0;10.0;7.5', ('7.5', '10.0', '12.0')),  # numeric order, not text order
    ],
)
def test_arch_list_parsing(text, expected):
    assert sp.parse_arch_list(text, '13.0') == expected


@pytest.mark.parametrize(
    'text,fragment',
    [
        ('6.1', 'CUDA 13.0 does not compile for 6.1'),
        ('7.0;9.0', 'CUDA 13.0 does not compile for 7.0'),
        ('sm_90', "'sm_90' is not an architecture"),
        ('9', "'9' is not an architecture"),
        (' ; ', 'TORCH_CUDA_ARCH_LIST is empty'),
    ],
)
def test_bad_arch_lists_are_one_line(text, fragment):
    with pytest.raises(sp.PlanError) as info:
        sp.parse_arch_list(text, '13.0')
    assert fragment in str(info.value) and '\n' not in str(info.value)
    assert 'from 7.5 up' in str(info.value)


def test_unknown_cuda_major_without_gpus_needs_an_arch_list():
    with pytest.raises(sp.PlanError, match='set TORCH_CUDA_ARCH_LIST'):
        sp.choose_arches(None, (), '12.8')
    assert sp.choose_arches('8.0', (), '12.8') == (('8.0',), 'TORCH_CUDA_ARCH_LIST')


@pytest.mark.parametrize(
    'arches,capability,expected',
    [
        (('8.0',), '8.0', True),
        (('8.0',), '8.6', True),
        (('8.0',), '8.9', True),
        (('8.6',), '8.0', False),
        (('8.0',), '9.0', False),
        (('8.0+PTX',), '9.0', True),
        (('9.0+PTX',), '8.6', False),
        (('9.0a',), '9.0', True),
        (('10.0a',), '10.3', False),
        (('10.0',), '10.3', True),
        (('12.0',), '12.1', True),
        (('10.0',), '12.0', False),
        (sp.DEFAULT_ARCHES[13], '8.9', True),
        (sp.DEFAULT_ARCHES[13], '12.1', True),
        (sp.DEFAULT_ARCHES[13], '11.0', False),
    ],
)
def test_covers(arches, capability, expected):
    assert sp.covers(arches, capability) is expected


# ----------------------------------------------------------------------------------------- the cache
def test_cache_key_names_the_ops_and_round_trips():
    cpu = sp.decide_flavour('auto', CUDA_TORCH)
    cuda = sp.decide_flavour('1', CUDA_TORCH, user_arches='9.0')
    assert sp.wheel_key('2.1.0', '2.14.1+cu130', 'cp311', 'x86_64', cpu) == f'{PREFIX}-cpu'
    assert sp.wheel_key('2.1.0', '2.14.1+cu130', 'cp311', 'x86_64', cuda) == f'{PREFIX}-cu13.0-arch9.0'
    assert sp.parse_tag(cuda.tag).arches == ('9.0',) and sp.parse_tag('cpu').kind == 'cpu'
    assert sp.parse_tag('cu13.0-archbogus') is None and sp.parse_tag('') is None


ALL = f'{PREFIX}-cu13.0-arch7.5_8.0_8.6_9.0_10.0_12.0'


def test_exact_key_first():
    flavour = sp.decide_flavour('auto', with_gpus(CUDA_TORCH, '9.0'))
    cached = [ALL, f'{PREFIX}-cu13.0-arch9.0']
    assert sp.choose_cached(PREFIX, flavour, 'auto', ('9.0',), None, cached) == f'{PREFIX}-cu13.0-arch9.0'


def test_cpu_machine_reuses_a_cached_cuda_wheel():
    flavour = sp.decide_flavour('auto', CUDA_TORCH)
    assert sp.choose_cached(PREFIX, flavour, 'auto', (), None, [ALL]) == ALL
    assert sp.choose_cached(PREFIX, flavour, 'auto', (), None, [ALL, f'{PREFIX}-cpu']) == f'{PREFIX}-cpu'
    # ... but not when the CPU build is asked for by name, nor a wheel built against another torch or Python.
    assert sp.choose_cached(PREFIX, sp.decide_flavour('0', CUDA_TORCH), '0', (), None, [ALL]) is None
    other = [ALL.replace('torch2.14.1', 'torch2.11.0'), ALL.replace('cp311', 'cp312')]
    assert sp.choose_cached(PREFIX, flavour, 'auto', (), None, other) is None


def test_gpu_machine_reuses_a_cuda_wheel_that_covers_its_gpus_and_never_a_cpu_one():
    gpus = ('8.9', '8.9')
    flavour = sp.decide_flavour('auto', with_gpus(CUDA_TORCH, *gpus))
    login_built = [ALL, f'{PREFIX}-cpu', f'{PREFIX}-cu13.0-arch9.0']
    assert sp.choose_cached(PREFIX, flavour, 'auto', gpus, None, login_built) == ALL
    assert sp.choose_cached(PREFIX, flavour, 'auto', gpus, None, [f'{PREFIX}-cpu', f'{PREFIX}-cu13.0-arch9.0']) is None
    # the fewest architectures that serve: the wheel built for these GPUs rather than the login node's
    assert (
        sp.choose_cached(PREFIX, flavour, 'auto', gpus, None, [ALL, f'{PREFIX}-cu13.0-arch8.0'])
        == f'{PREFIX}-cu13.0-arch8.0'
    )
    # the user's own architecture list is built as asked
    assert (
        sp.choose_cached(
            PREFIX, sp.decide_flavour('auto', with_gpus(CUDA_TORCH, *gpus), '8.9'), 'auto', gpus, '8.9', [ALL]
        )
        is None
    )


LEGACY = 'mmcv-2.1.0-torch2.14.1-cp311-x86_64'  # an earlier setup's folder: its ops are not in its name


def test_an_earlier_setups_wheel_serves_only_cpu_machines_in_auto_mode():
    cpu = sp.decide_flavour('auto', CUDA_TORCH)
    assert sp.choose_cached(PREFIX, cpu, 'auto', (), None, [LEGACY, ALL], LEGACY) == LEGACY
    assert sp.choose_cached(PREFIX, cpu, 'auto', (), None, [LEGACY, f'{PREFIX}-cpu'], LEGACY) == f'{PREFIX}-cpu'
    assert sp.choose_cached(PREFIX, sp.decide_flavour('0', CUDA_TORCH), '0', (), None, [LEGACY], LEGACY) is None
    gpu = sp.decide_flavour('auto', with_gpus(CUDA_TORCH, '9.0'))
    assert sp.choose_cached(PREFIX, gpu, 'auto', ('9.0',), None, [LEGACY], LEGACY) is None
    decision = sp.decide(facts(), {}, '/c', '2.1.0', None, [LEGACY], [])
    assert decision.reuse_dir == f'/c/{LEGACY}' and decision.wheel_dir == f'/c/{PREFIX}-cpu'
    assert dict(line.split('=', 1) for line in sp.shell_lines(decision))['MMCV_REUSE_TEXT'].startswith("'cpu ops")


def test_cpu_ops_are_never_installed_where_a_gpu_is_visible_unless_asked():
    cpu = sp.Flavour('cpu')
    with pytest.raises(sp.PlanError, match='refusing to install a CPU-only mmcv on a machine with 1 visible GPU'):
        sp.check_install(cpu, 'auto', ('9.0',), '13.0')
    sp.check_install(cpu, '0', ('9.0',), '13.0')
    sp.check_install(cpu, 'auto', (), '13.0')
    sp.check_install(cpu, 'auto', ('9.0',), None)  # a CPU-only torch cannot use the GPU either


# ------------------------------------------------------------------------------------------------ nvcc
def cand(version, path='/usr/local/cuda/bin/nvcc'):
    return sp.NvccCandidate(path=path, root=osp.dirname(osp.dirname(path)), version=version)


def test_system_toolkit_of_torchs_major_is_used_first_in_order():
    choice = sp.choose_nvcc(
        CUDA_TORCH,
        '13.0',
        [cand('12.4.131', '/opt/cuda-12/bin/nvcc'), cand('13.1.80'), cand('13.0.88', '/opt/cuda-13.0/bin/nvcc')],
    )
    assert choice.kind == 'system' and choice.candidate.version == '13.1.80'
    assert choice.notes == (
        'found nvcc 12.4.131 at /opt/cuda-12/bin/nvcc, but torch 2.14.1+cu130 needs CUDA 13.x '
        'to compile its extensions: not used',
    )
    assert 'CUDA_HOME=/usr/local/cuda for the build' in choice.describe()


def test_wrong_major_falls_back_to_the_registry_pinned_by_torchs_toolkit():
    choice = sp.choose_nvcc(CUDA_TORCH, '13.0', [cand('12.4.131')])
    assert choice.kind == 'registry' and choice.packages == REGISTRY
    assert len(choice.notes) == 1 and 'found nvcc 12.4.131' in choice.notes[0]


def test_registry_pins_every_part_of_one_release():
    # a toolkit naming nvcc alone: nvvm and crt take nvcc's version (an unpinned nvvm came as 13.5 and broke ptxas)
    assert sp.registry_packages('13.1', [('nvidia-cuda-nvcc', '13.1.80')]) == (
        'nvidia-cuda-nvcc==13.1.80',
        'nvidia-nvvm==13.1.80',
        'nvidia-cuda-crt==13.1.80',
        'nvidia-cuda-cccl==13.1.*',
    )
    no_toolkit = sp.dataclasses.replace(CUDA_TORCH, toolkit=None, toolkit_pins=())
    assert sp.choose_nvcc(no_toolkit, '13.0', []).packages == REGISTRY == sp.KNOWN_NVCC_PINS['13.0']
    assert sp.registry_packages('13.2') == (
        'nvidia-cuda-nvcc==13.2.*',
        'nvidia-nvvm==13.2.*',
        'nvidia-cuda-crt==13.2.*',
        'nvidia-cuda-cccl==13.2.*',
    )
    # a toolkit of another release than torch's CUDA says nothing about it
    assert sp.registry_packages('13.0', [('nvidia-cuda-nvcc', '13.2.51')]) == sp.KNOWN_NVCC_PINS['13.0']
    with pytest.raises(sp.PlanError, match='install a CUDA 12 toolkit and set CUDA_HOME'):
        sp.registry_packages('12.8')


def test_nvcc_modes():
    assert sp.choose_nvcc(CUDA_TORCH, '13.0', [cand('13.0.88')], 'registry').kind == 'registry'
    with pytest.raises(sp.PlanError, match=r'MMDET_RLA_NVCC=system, but no CUDA 13 toolkit: found nvcc 12\.4'):
        sp.choose_nvcc(CUDA_TORCH, '13.0', [cand('12.4.131')], 'system')
    with pytest.raises(sp.PlanError, match='MMDET_RLA_NVCC must be one of auto, system, registry'):
        sp.choose_nvcc(CUDA_TORCH, '13.0', [], 'conda')
    unknown = sp.choose_nvcc(CUDA_TORCH, '13.0', [cand(None)])
    assert unknown.kind == 'registry' and 'did not say its version' in unknown.notes[0]


def test_nvcc_output_parsing():
    text = 'nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 13.0, V13.0.88\n'
    assert sp.parse_nvcc_version(text) == '13.0.88'
    assert sp.parse_nvcc_version('Cuda compilation tools, release 12.4') == '12.4'
    assert sp.parse_nvcc_version('command not found') is None
    assert (
        sp.parse_nvcc_root('#$ _NVVM_BRANCH_=nvvm\n#$ _HERE_=/usr/local/cuda-13.0/bin\n#$ TOP=x\n')
        == '/usr/local/cuda-13.0'
    )
    assert sp.parse_nvcc_root('') is None


# --------------------------------------------------------------------------------- the whole decision
def facts(**overrides):
    base = dict(
        python='3.11.7',
        pytag='cp311',
        machine='x86_64',
        torch='2.14.1+cu130',
        cuda='13.0',
        gpus=[],
        toolkit='13.0.3.0',
        toolkit_pins=[list(pin) for pin in PINS],
    )
    base.update(overrides)
    return base


def test_decide_on_a_login_node_building_for_compute_nodes(tmp_path):
    environ = {'MMDET_RLA_MMCV_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': '9.0'}
    decision = sp.decide(facts(), environ, str(tmp_path), '2.1.0', None, [], [cand('12.4.131')])
    assert decision.wheel_dir == str(tmp_path / f'{PREFIX}-cu13.0-arch9.0') and decision.reuse_dir is None
    assert decision.nvcc.kind == 'registry' and decision.notes and 'found nvcc 12.4.131' in decision.notes[0]
    values = dict(line.split('=', 1) for line in sp.shell_lines(decision))
    assert values['MMCV_FLAVOUR'] == 'cuda' and values['MMCV_ARCH_LIST'] == '9.0'
    assert values['NVCC_PACKAGES'] == "'" + ' '.join(REGISTRY) + "'"


def test_decide_counts_gpus_nvidia_smi_lists_when_torch_sees_none():
    decision = sp.decide(facts(), {}, '/c', '2.1.0', ['9.0'], [], [cand('13.0.88')])
    assert decision.flavour.kind == 'cuda' and decision.flavour.arches == ('9.0',)
    assert 'driver older than CUDA 13.0' in decision.gpu_note
    # ... unless CUDA_VISIBLE_DEVICES hides them, which nvidia-smi ignores
    hidden = sp.decide(facts(), {'CUDA_VISIBLE_DEVICES': ''}, '/c', '2.1.0', ['9.0'], [], [])
    assert hidden.flavour.kind == 'cpu' and 'CUDA_VISIBLE_DEVICES is set' in hidden.gpu_note


def test_decide_refuses_a_cpu_wheel_that_cannot_serve_a_gpu_machine():
    decision = sp.decide(facts(gpus=['9.0']), {}, '/c', '2.1.0', ['9.0'], [f'{PREFIX}-cpu'], [cand('13.0.88')])
    assert decision.reuse_dir is None and decision.nvcc.kind == 'system'  # builds CUDA ops, ignores the CPU wheel


def test_shell_lines_survive_eval(tmp_path):
    decision = sp.decide(
        facts(),
        {'MMDET_RLA_MMCV_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': '8.0 9.0+PTX'},
        str(tmp_path / "it's here"),
        '2.1.0',
        None,
        [],
        [cand('12.4.131', "/o'dd path/bin/nvcc")],
    )
    script = (
        '\n'.join(sp.shell_lines(decision)) + '\nprintf "%s|%s|%s" "$MMCV_ARCH_LIST" "$MMCV_WHEELDIR" "$MMCV_NOTES"'
    )
    done = subprocess.run(['bash', '-c', script], capture_output=True, text=True, check=True)
    arch, wheel_dir, notes = done.stdout.split('|')
    assert arch == '8.0;9.0+PTX' and wheel_dir.endswith("it's here/" + f'{PREFIX}-cu13.0-arch8.0_9.0+PTX')
    assert "/o'dd path/bin/nvcc" in notes


# ------------------------------------------------------------------------------------------------ stamp
def test_stamp_follows_the_flavours_inputs_and_either_metadata_file(tmp_path):
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'tools' / 'setup_env.sh').write_text('echo setup\n')
    (tmp_path / 'requirements.txt').write_text('torch\n')
    (tmp_path / 'setup.py').write_text('setup()\n')
    key = sp.stamp_key(str(tmp_path), {}, None)
    assert key == sp.stamp_key(str(tmp_path), {'UNRELATED': '1'}, None)
    changed = {
        sp.stamp_key(str(tmp_path), {'MMDET_RLA_MMCV_CUDA': '1'}, None),
        sp.stamp_key(str(tmp_path), {'TORCH_CUDA_ARCH_LIST': '9.0'}, None),
        sp.stamp_key(str(tmp_path), {'CUDA_VISIBLE_DEVICES': ''}, None),
        sp.stamp_key(str(tmp_path), {}, []),
        sp.stamp_key(str(tmp_path), {}, ['9.0']),
    }
    assert key not in changed and len(changed) == 5
    # setup.py replaced by pyproject.toml: still a key, and it follows pyproject.toml's content
    (tmp_path / 'setup.py').unlink()
    (tmp_path / 'pyproject.toml').write_text('[project]\nname = "x"\n')
    moved = sp.stamp_key(str(tmp_path), {}, None)
    (tmp_path / 'pyproject.toml').write_text('[project]\nname = "y"\n')
    assert len({key, moved, sp.stamp_key(str(tmp_path), {}, None)}) == 3


def test_stamp_hashes_the_setups_own_files():
    assert {
        'tools/setup_env.sh',
        'tools/setup_plan.py',
        'tools/mmcv_build.sh',
        'requirements.txt',
        'setup.py',
        'pyproject.toml',
    } <= set(sp.STAMP_FILES)
    assert all(
        osp.isfile(osp.join(REPO, name)) for name in sp.STAMP_FILES if name not in ('setup.py', 'pyproject.toml')
    )


# ------------------------------------------------------------------------------- setup_env.sh --plan
def snapshot(*roots):
    """Every path under ``roots`` with its size and mtime (the plan must leave all of them as they were)."""
    seen = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in ('.git', '.pytest_cache', '__pycache__') or folder != root]
            for name in dirs + files:
                path = osp.join(folder, name)
                stat = os.lstat(path)
                seen[path] = (stat.st_size, stat.st_mtime_ns)
    return seen


def run_plan(root, cache, **env):
    environ = dict(os.environ, MMDET_RLA_CACHE=str(cache), **env)
    for name in ('MMDET_RLA_MMCV_CUDA', 'TORCH_CUDA_ARCH_LIST', 'MMDET_RLA_NVCC'):
        if name not in env:
            environ.pop(name, None)
    return subprocess.run(
        ['bash', osp.join(root, 'tools', 'setup_env.sh'), '--plan'],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )


def test_plan_in_this_checkout_prints_each_decision_and_changes_nothing(tmp_path):
    cache = tmp_path / 'cache'
    watched = [osp.join(REPO, 'tools'), osp.join(REPO, '.venv', 'bin'), osp.join(REPO, 'mmdet_rla')]
    before = snapshot(*watched)
    stamp = osp.join(REPO, '.venv', '.mmdet_rla_setup_stamp')
    stamp_before = open(stamp).read() if osp.exists(stamp) else None
    done = run_plan(REPO, cache, MMDET_RLA_MMCV_CUDA='1', TORCH_CUDA_ARCH_LIST='9.0')
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(':')[0] for line in lines[:6]] == ['python', 'torch', 'gpus', 'mmcv ops', 'nvcc', 'wheel cache']
    assert lines[0].startswith(f'python: {osp.join(REPO, ".venv", "bin", "python")} (')
    assert lines[1].startswith(f'torch: {torch.__version__}, CUDA {torch.version.cuda}')
    assert lines[3].startswith(f'mmcv ops: cuda {torch.version.cuda}, arches 9.0 (MMDET_RLA_MMCV_CUDA=1')
    assert lines[5].startswith(f'wheel cache: {cache}/mmcv-2.1.0-torch{torch.__version__}-cp')
    assert lines[5].endswith('-cu13.0-arch9.0 (not cached: would build mmcv there)')
    assert not cache.exists() and snapshot(*watched) == before
    assert (open(stamp).read() if osp.exists(stamp) else None) == stamp_before


def test_plan_reports_a_bad_setting_in_one_line(tmp_path):
    done = run_plan(REPO, tmp_path / 'cache', MMDET_RLA_MMCV_CUDA='yes')
    assert done.returncode == 1 and done.stdout == ''
    assert done.stderr.strip().splitlines() == [
        'setup_env.sh: error: MMDET_RLA_MMCV_CUDA must be one of auto, 0, 1 (auto: CUDA ops where a GPU is '
        "visible; 1: CUDA ops; 0: CPU-only ops), got 'yes'"
    ]


def test_setup_names_its_arguments():
    done = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'setup_env.sh'), '--plna'], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "setup_env.sh: error: unknown argument '--plna' (allowed: --plan, --help)"


def test_plan_without_an_environment_creates_none(tmp_path):
    root = tmp_path / 'checkout'
    (root / 'tools').mkdir(parents=True)
    for name in ('tools/setup_env.sh', 'tools/setup_plan.py'):
        shutil.copy(osp.join(REPO, name), root / name)
    before = snapshot(str(tmp_path))
    done = run_plan(str(root), tmp_path / 'cache', TORCH_CUDA_ARCH_LIST='8.0')
    assert done.returncode == 0, done.stderr
    assert snapshot(str(tmp_path)) == before  # no .venv, no cache, no __pycache__
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f'python: {root}/.venv does not exist: would be created with ')
    assert lines[1] == (
        'torch: not installed: would install torch==2.14.1 (its CUDA version is known only once it is installed)'
    )
    assert lines[-1].startswith(f'wheel cache: {tmp_path}/cache/mmcv-<mmcv>-torch<torch version>-cp')


# ------------------------------------------------------------------------------- check_mmcv_ops.py
check_ops = _load('check_mmcv_ops')


def run_check(capsys, *argv):
    """The tool's main in this process (its imports take seconds), as its __main__ runs it."""
    with pytest.raises(SystemExit) as info:
        with check_ops.exit_on_user_error(check_ops.PROG):
            sys.exit(check_ops.main(list(argv)))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_check_mmcv_ops_compares_a_device_with_the_cpu(capsys):
    code, out, _ = run_check(capsys, '--device', 'cpu')
    assert code == 0
    first, second = out.splitlines()[:2]
    from mmcv.ops import get_compiling_cuda_version

    compiled = get_compiling_cuda_version()
    assert first == f'mmcv 2.1.0 ops: {"cpu" if compiled == "not available" else "cuda " + compiled}'
    assert second.startswith('cpu: nms keeps the same ') and 'RoIAlign max |difference| 0 ' in second
    kept = int(second.split('nms keeps the same ')[1].split(' ')[0])
    assert 0 < kept < 120  # the sample boxes overlap: nms suppresses some and keeps some


def test_check_mmcv_ops_finds_a_difference():
    boxes, scores, features, rois = check_ops.sample_inputs()
    from mmcv.ops import RoIAlign

    pooled = RoIAlign(output_size=(7, 7), spatial_scale=0.5, sampling_ratio=2, aligned=True)(features, rois)
    assert pooled.abs().max() > 0.1  # RoIs inside the map: a shifted result would show
    ok, line = check_ops.compare_on('cpu', tolerance=-1.0)  # nothing passes a negative tolerance
    assert not ok and 'tolerance -1' in line


def test_check_mmcv_ops_on_cuda_devices(capsys):
    code, out, err = run_check(capsys, '--device', 'cuda:0')
    if torch.cuda.is_available():  # a GPU machine: the comparison itself runs
        assert code == 0 and 'cuda:0 (' in out
    else:
        assert code == 'check_mmcv_ops.py: error: --device cuda:0: torch sees no CUDA device here'
    code, _, _ = run_check(capsys, '--device', 'gpu0')
    assert code == "check_mmcv_ops.py: error: --device: 'gpu0' is not a torch device (such as cpu, cuda, cuda:1)"


# ----------------------------------------------------------------------------------------- gpu_wheels.sh
def test_gpu_wheels_install_refuses_wheels_built_for_another_python_or_torch(tmp_path):
    out = tmp_path / 'wheels'
    out.mkdir()
    (out / 'TARGET').write_text('python=3.12\ntorch=2.11.0+cu130\nmmcv_ops=cuda 13.0, arches 9.0\n')
    environ = dict(os.environ, GPU_WHEELS_DIR=str(out), GPU_WHEELS_TARGET_PYTHON=sys.executable)
    done = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'gpu_wheels.sh'), '--install'],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    found = f'{sys.version_info[0]}.{sys.version_info[1]} {torch.__version__}'
    assert done.returncode == 1 and done.stdout == ''
    assert done.stderr.strip() == (
        f'gpu_wheels.sh: error: the wheels in {out} are for Python 3.12 with torch 2.11.0+cu130; {sys.executable} '
        f"here has Python/torch '{found}': build them for this one (GPU_WHEELS_TORCH=..., GPU_WHEELS_PYTHON=...)"
    )


def test_gpu_wheels_names_its_modes(tmp_path):
    script = osp.join(REPO, 'tools', 'gpu_wheels.sh')
    environ = dict(os.environ, GPU_WHEELS_DIR=str(tmp_path / 'none'))
    bad = subprocess.run(['bash', script, '--bogus'], capture_output=True, text=True, env=environ, timeout=60)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "gpu_wheels.sh: error: unknown argument '--bogus' (allowed: --check, --install, --help)"
    )
    empty = subprocess.run(['bash', script, '--check'], capture_output=True, text=True, env=environ, timeout=60)
    assert empty.returncode == 1 and 'holds no wheels: run bash tools/gpu_wheels.sh first' in empty.stderr
