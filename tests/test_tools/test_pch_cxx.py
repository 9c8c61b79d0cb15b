"""tools/misc/pch_cxx.sh, the compiler wrapper of the mmcv build.

The argument handling is checked with a stand-in compiler that records its
calls; one test compiles a small torch program with and without the
wrapper, checks that the precompiled header was used, and runs both.
"""
import os
import os.path as osp
import shlex
import subprocess

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
WRAPPER = osp.join(REPO, 'tools', 'misc', 'pch_cxx.sh')

# a stand-in compiler: one line of arguments per call in $CALLS; a call that
# writes a precompiled header fails when $FAIL_PCH is set
FAKE = r'''#!/usr/bin/env bash
printf '%s\n' "$*" >> "$CALLS"
out=""; prev=""
for a in "$@"; do [[ "$prev" == -o ]] && out="$a"; prev="$a"; done
if [[ " $* " == *" -x c++-header "* ]]; then
    [[ -n "${FAIL_PCH:-}" ]] && { echo "no room" >&2; exit 1; }
fi
[[ -n "$out" ]] && : > "$out"
exit 0
'''

# what ninja runs for one op source of mmcv (flags shortened): the flags end
# with -c, and -c comes again before the source
COMPILE = ('-MMD -MF {o}.d -O3 -g -fPIC -I/inc -DNDEBUG -c -c {src} -o {o} '
           '-std=c++17 -DTORCH_EXTENSION_NAME=_ext')


@pytest.fixture
def fake(tmp_path):
    compiler = tmp_path / 'fake-c++'
    compiler.write_text(FAKE)
    compiler.chmod(0o755)
    calls = tmp_path / 'calls.txt'
    env = dict(
        os.environ,
        HORNET_MM_REAL_CXX=str(compiler),
        HORNET_MM_PCH_DIR=str(tmp_path / 'pch'),
        CALLS=str(calls))

    def run(args, **extra):
        subprocess.run([WRAPPER, *shlex.split(args)],
                       env=dict(env, **extra),
                       check=True,
                       cwd=tmp_path)
        lines = calls.read_text().splitlines() if calls.exists() else []
        calls.unlink(missing_ok=True)
        return [shlex.split(line) for line in lines]

    return run, tmp_path


def test_first_compile_builds_the_header_with_the_same_flags(fake):
    run, tmp = fake
    calls = run(COMPILE.format(src='a.cpp', o='a.o'))
    assert len(calls) == 2
    pch, compile_ = calls
    header = str(tmp / 'pch' / 'torch_types.h')
    # the header is compiled with every flag but the source, the output, the
    # dependency file and -c
    assert pch == [
        '-O3', '-g', '-fPIC', '-I/inc', '-DNDEBUG', '-std=c++17',
        '-DTORCH_EXTENSION_NAME=_ext', '-g0', '-x', 'c++-header', header, '-o',
        header + '.gch.tmp'
    ]
    assert (tmp / 'pch' / 'torch_types.h').read_text() == \
        '#include <torch/types.h>\n'
    assert (tmp / 'pch' / 'torch_types.h.gch').exists()
    # the compile itself: ninja's arguments unchanged, then the header
    original = shlex.split(COMPILE.format(src='a.cpp', o='a.o'))
    assert compile_ == original + ['-g0', '-Winvalid-pch', '-include', header]
    # later compiles reuse it
    calls = run(COMPILE.format(src='b.cpp', o='b.o'))
    assert len(calls) == 1 and calls[0][-2:] == ['-include', header]


def test_links_and_other_calls_pass_through(fake):
    run, tmp = fake
    link = '-shared a.o b.o -L/lib -lc10 -o _ext.so'
    assert run(link) == [shlex.split(link)]
    assert run('--version') == [['--version']]
    assert not (tmp / 'pch' / 'torch_types.h.gch').exists()


def test_without_a_pch_dir_it_is_the_plain_compiler(fake):
    run, tmp = fake
    args = COMPILE.format(src='a.cpp', o='a.o')
    assert run(args, HORNET_MM_PCH_DIR='') == [shlex.split(args)]


def test_a_failed_header_falls_back_to_plain_compiles(fake):
    run, tmp = fake
    args = COMPILE.format(src='a.cpp', o='a.o')
    calls = run(args, FAIL_PCH='1')
    # tried once, then the source compiles without the header
    assert len(calls) == 2
    assert calls[1] == shlex.split(args) + ['-g0']
    assert (tmp / 'pch' / 'failed').exists()
    calls = run(COMPILE.format(src='b.cpp', o='b.o'))
    assert len(calls) == 1 and '-include' not in calls[0]


SOURCE = r'''
#include <torch/types.h>
#include <cstdio>
int main() {
  at::Tensor t = at::arange(6, at::kFloat).reshape({2, 3});
  std::printf("%g %d\n", t.sum().item<float>(), (int)t.size(1));
  return 0;
}
'''


def _torch_flags():
    from torch.utils import cpp_extension
    inc = cpp_extension.include_paths()
    libs = cpp_extension.library_paths()
    return ([f'-I{p}' for p in inc] + ['-std=c++17', '-O1', '-H'],
            [f'-L{p}' for p in libs] + [f'-Wl,-rpath,{p}' for p in libs] +
            ['-lc10', '-ltorch_cpu', '-ltorch'])


@pytest.mark.skipif(
    subprocess.run(['sh', '-c', 'command -v c++'],
                   capture_output=True).returncode != 0,
    reason='no C++ compiler on this machine')
def test_real_compile_through_the_header_gives_the_same_program(tmp_path):
    """A torch program compiled through the wrapper (precompiled header
    used, -Winvalid-pch silent) runs as the one compiled directly."""
    (tmp_path / 'prog.cpp').write_text(SOURCE)
    cflags, ldflags = _torch_flags()
    env = dict(
        os.environ,
        HORNET_MM_REAL_CXX='c++',
        HORNET_MM_PCH_DIR=str(tmp_path / 'pch'))
    results = []
    for name, cxx in (('direct', 'c++'), ('wrapped', WRAPPER)):
        obj, exe = tmp_path / f'{name}.o', tmp_path / name
        done = subprocess.run([
            cxx, '-MMD', '-MF', f'{obj}.d', *cflags, '-c', 'prog.cpp', '-o',
            str(obj)
        ],
                              env=env,
                              cwd=tmp_path,
                              capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr
        if name == 'wrapped':
            # -H marks a precompiled header it used with '!'
            gch = tmp_path / 'pch' / 'torch_types.h.gch'
            assert f'! {gch}' in done.stderr, done.stderr[-2000:]
        subprocess.run(
            [cxx, str(obj), '-o', str(exe), *ldflags], env=env, check=True)
        results.append(
            subprocess.run([str(exe)],
                           capture_output=True,
                           text=True,
                           check=True).stdout)
    assert (tmp_path / 'pch' / 'torch_types.h.gch').exists()
    assert results == ['15 3\n', '15 3\n']
