# The state of many files in one go: fileProbe's batch (src/resources/files.ts). @PATHS@ are
# the paths (quoted), @ITEMS@ (one quoted word) one line per file: "<1|0: content wanted> <wanted sha256 or
# -> <path>", tab-separated. For item i it prints a line "@MARK@ i", then exactly what
# fileProbe's own script prints for that path: "absent" (missing, or a symlink); "other
# <type>" (a directory, fifo…); or mode, owner and group, the sha256, the base64 of the
# content when it is wanted, differs from the wanted sha256 and has at most @MAX@ bytes, and
# an empty line. One stat and one sha256sum answer every file. Both print their lines in
# the order of their arguments (stat skips a missing path, sha256sum a file it cannot
# read), so the items, in that same order, take their lines in step: each taken once, in
# one pass, not searched for. Lines are cut from strings, not `read` (which reads a byte per
# system call): both a search per item and `read` made this script take ~35 ms for 48 files
# where stat and sha256sum take ~12. Paths never hold a newline.
nl='
'
tab='	'
S=$(stat -c '%F|%a %U %G|%s|%n' -- @PATHS@ 2>/dev/null)$nl
R=
set -f
IFS=$nl
for l in $S; do
  case $l in 'regular file|'* | 'regular empty file|'*) R=$R${l#*|*|*|}$nl ;; esac
done
H=$nl
# Only regular files: sha256sum would wait forever on a fifo.
[ -z "$R" ] || H=$(sha256sum -- $R 2>/dev/null)$nl
unset IFS
set +f
I=@ITEMS@$nl
# sl, hl: the next stat and sha256sum lines, held until the item they belong to comes.
i=0 hs=0 hh=0
while [ -n "$I" ]; do
  it=${I%%"$nl"*}
  I=${I#*"$nl"}
  c=${it%%"$tab"*}
  r=${it#*"$tab"}
  w=${r%%"$tab"*}
  p=${r#*"$tab"}
  echo "@MARK@ $i"
  i=$((i + 1))
  if [ $hs = 0 ]; then
    sl=${S%%"$nl"*}
    S=${S#*"$nl"}
    hs=1
  fi
  # The name is what follows the third `|` (type, mode and size hold none).
  if [ -z "$sl" ] || [ "${sl#*|*|*|}" != "$p" ]; then
    echo absent
    continue
  fi
  hs=0
  t=${sl%%|*}
  r=${sl#*|}
  m=${r%%|*}
  r=${r#*|}
  z=${r%%|*}
  case $t in
  'regular file' | 'regular empty file')
    if [ $hh = 0 ]; then
      hl=${H%%"$nl"*}
      H=${H#*"$nl"}
      hh=1
    fi
    h=
    # "<hash>  <path>"; a leading backslash when sha256sum had to escape the path.
    if [ -n "$hl" ] && { [ "${hl#*  }" = "$p" ] || [ "${hl#\\}" != "$hl" ]; }; then
      h=${hl%%  *}
      h=${h#\\}
      hh=0
    fi
    echo "$m"
    echo "$h"
    if [ "$c" = 1 ] && [ "$h" != "$w" ] && [ "$z" -le @MAX@ ]; then base64 -w0 -- "$p"; fi
    echo
    ;;
  'symbolic link') echo absent ;;
  *) echo "other $t" ;;
  esac
done
