@0xd6a1e0c3b27f4e19;
# workerd's Pyodide bundle message, as the workerd binary pinned in
# tools/node/package-lock.json reads it (its src/workerd/jsg/modules.capnp).
# Only the wire layout matters: field ordinals, types and the union must match
# that schema; names and this file's id are ours. tooling.workerd.bundle
# writes one Bundle with three internal modules; tests decode it again.

struct Bundle {
  modules @0 :List(Module);
}

struct Module {
  name @0 :Text;
  union {
    src @1 :Data;
    wasm @4 :Data;
    data @5 :Data;
    json @6 :Text;
  }
  tsDeclaration @3 :Text;
  type @2 :ModuleType;
  compileCache @7 :Data;
}

enum ModuleType {
  bundle @0;
  builtin @1;
  internal @2;
}
