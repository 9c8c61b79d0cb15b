#!/usr/bin/env bash
# C++ compiler wrapper for building mmcv's ops (tools/install.sh sets CXX to it).
#
# Each of mmcv's ~80 op sources includes torch/types.h, whose parsing is most of
# its compile time. The first compile builds a precompiled header of it with the
# same flags (under a lock, so parallel jobs wait for it), and every compile then
# starts from it. Debug information (-g from Python's build flags) is dropped with
# -g0. If the precompiled header cannot be built or does not fit, the compiler
# reads the header itself (a warning from -Winvalid-pch), so the build is never
# different, only slower.
#
# Environment:
#   HORNET_MM_REAL_CXX  the compiler to run (default: c++)
#   HORNET_MM_PCH_DIR   where the precompiled header is written, one directory
#                       per build (unset: plain compiles)
set -uo pipefail

REAL_CXX="${HORNET_MM_REAL_CXX:-c++}"
PCH_DIR="${HORNET_MM_PCH_DIR:-}"

# Only compiles of C++ sources (-c file.cpp) get the header; links and
# anything else pass through unchanged.
src=""
prev=""
for arg in "$@"; do
    if [[ "$prev" == "-c" && "$arg" == *.cpp ]]; then src="$arg"; fi
    prev="$arg"
done
if [[ -z "$src" || -z "$PCH_DIR" ]]; then
    exec $REAL_CXX "$@"
fi

mkdir -p "$PCH_DIR" 2>/dev/null
header="$PCH_DIR/torch_types.h"
gch="$header.gch"
(
    flock 9
    if [[ ! -e "$gch" && ! -e "$PCH_DIR/failed" ]]; then
        # the same flags as this compile, without its source, output and
        # dependency file
        flags=()
        skip=0
        for arg in "$@"; do
            if ((skip)); then skip=0; continue; fi
            case "$arg" in
                -o | -MF) skip=1 ;;
                -c | -MMD | "$src") ;;
                *) flags+=("$arg") ;;
            esac
        done
        printf '#include <torch/types.h>\n' > "$header"
        if $REAL_CXX "${flags[@]}" -g0 -x c++-header "$header" -o "$gch.tmp" 2> "$PCH_DIR/pch.log"; then
            mv "$gch.tmp" "$gch"
        else
            echo "precompiled header failed, compiling without it" >&2
            : > "$PCH_DIR/failed"
        fi
    fi
) 9> "$PCH_DIR/lock"

if [[ -e "$gch" ]]; then
    exec $REAL_CXX "$@" -g0 -Winvalid-pch -include "$header"
fi
exec $REAL_CXX "$@" -g0
