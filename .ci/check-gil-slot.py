"""Check that module.c, preprocessed (argv[1]), lists the slot
{Py_mod_gil, Py_MOD_GIL_NOT_USED} in module_slots; argv[2] holds the line
'GIL_SLOT: <Py_mod_gil> <Py_MOD_GIL_NOT_USED>' as the same headers expand
those two macros.  Used by .ci/step-free-threaded-headers.sh."""
import re
import sys

source = open(sys.argv[1]).read()
slot_line = open(sys.argv[2]).read().strip()
match = re.fullmatch(r"GIL_SLOT: (\S+) (.+)", slot_line)
if not match or match.group(1) == "Py_mod_gil":
    sys.exit(f"these headers do not define Py_mod_gil: {slot_line!r}")
slot, not_used = match.group(1), match.group(2)
array = re.search(r"module_slots\[\]\s*=\s*\{(.*?)\};", source, re.S)
if not array:
    sys.exit("module_slots not found in the preprocessed module.c")
entries = re.findall(r"\{\s*([^{},]+?)\s*,\s*([^{}]+?)\s*\}", array.group(1))
squash = lambda s: re.sub(r"\s+", "", s)
if (squash(slot), squash(not_used)) not in [(squash(a), squash(b)) for a, b in entries]:
    sys.exit(f"module_slots has no {{Py_mod_gil, Py_MOD_GIL_NOT_USED}} ({slot}, {not_used}): {entries}")
print(f"module_slots declares {{Py_mod_gil, Py_MOD_GIL_NOT_USED}} = {{{slot}, {not_used}}}: the GIL stays off")
