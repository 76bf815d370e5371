#!/usr/bin/env bash
# The layering of src/ (docs/architecture.md, "Layers"): a file under
# src/<dir>/ may include headers of its own directory, of the directories
# its row of ALLOWED lists, and public headers (include/). Lists every
# other #include "..." and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."

# dir -> the directories it may include (the arrows of the diagram).
declare -A ALLOWED=(
  [core]=""
  [tensor]="core"
  [kernels]="tensor core"
  [nn]="kernels tensor core"
  [data]="core"
  [optim]="nn core"
  [sparsity]="nn kernels core"
  [train]="sparsity optim nn kernels data core"
  [io]="train nn data core"
  [mpi]=""
)

bad=0
for f in src/*/*.[ch]; do
  dir=$(basename "$(dirname "$f")")
  if [[ ! -v ALLOWED[$dir] ]]; then
    echo "$f: directory src/$dir is not in the layer table"; bad=1; continue
  fi
  while IFS=: read -r line inc; do
    inc=${inc#*\"}; inc=${inc%\"*}
    if [ -f "$(dirname "$f")/$inc" ]; then
      target=$(realpath --relative-to=src "$(dirname "$f")/$inc")
    elif [ -f "include/$inc" ]; then
      continue # a public header
    elif [ -f "src/$inc" ]; then
      target=$inc
    else
      echo "$f:$line: #include \"$inc\" does not resolve"; bad=1; continue
    fi
    to=${target%%/*}
    [ "$to" = "$dir" ] && continue
    if [[ " ${ALLOWED[$dir]} " != *" $to "* ]]; then
      echo "$f:$line: src/$dir may not include src/$to (#include \"$inc\")"; bad=1
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
done
exit $bad
