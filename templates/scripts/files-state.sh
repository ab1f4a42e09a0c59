# The state of many files in one go: fileProbe's batch (src/resources/files.ts). @PATHS@ are
# the paths (quoted), @ITEMS@ one line per file: "<1|0: content wanted> <wanted sha256 or
# -> <path>", tab-separated. For item i it prints a line "@MARK@ i", then exactly what
# fileProbe's own script prints for that path: "absent" (missing, or a symlink); "other
# <type>" (a directory, fifo…); or mode, owner and group, the sha256, the base64 of the
# content when it is wanted, differs from the wanted sha256 and has at most @MAX@ bytes, and
# an empty line. One stat and one sha256sum answer every file; looking a path up in their
# output is parameter expansion, not a process. Paths never hold a newline.
nl='
'
S=$nl$(stat -c '%F|%a %U %G|%s|%n' -- @PATHS@ 2>/dev/null)$nl
R=
while IFS='|' read -r t m z n; do
  case $t in 'regular file' | 'regular empty file') R=$R$n$nl ;; esac
done <<STAT
$S
STAT
H=$nl
if [ -n "$R" ]; then
  # Only regular files: sha256sum would wait forever on a fifo.
  H=$nl$(
    IFS=$nl
    set -f
    sha256sum -- $R 2>/dev/null
  )$nl
fi
i=0
while IFS='	' read -r c w p; do
  echo "@MARK@ $i"
  i=$((i + 1))
  case $S in
  *"|$p$nl"*) ;;
  *)
    echo absent
    continue
    ;;
  esac
  r=${S%%"|$p$nl"*}
  r=${r##*"$nl"}
  t=${r%%|*}
  r=${r#*|}
  m=${r%|*}
  z=${r##*|}
  case $t in
  'regular file' | 'regular empty file')
    h=
    case $H in *"  $p$nl"*)
      h=${H%%"  $p$nl"*}
      h=${h##*"$nl"}
      h=${h#\\}
      ;;
    esac
    echo "$m"
    echo "$h"
    if [ "$c" = 1 ] && [ "$h" != "$w" ] && [ "$z" -le @MAX@ ]; then base64 -w0 -- "$p"; fi
    echo
    ;;
  'symbolic link') echo absent ;;
  *) echo "other $t" ;;
  esac
done <<'ITEMS'
@ITEMS@
ITEMS
