# Evaluations for scripts/check-packaging that need no nixpkgs (Nix >= 2.8, no network).
#
# nixpkgs cannot be fetched or evaluated here, so the flake, the package, the image and the
# VM tests are evaluated against small stand-ins for the few nixpkgs functions they call at
# the top level. That checks their structure and the values they compute themselves (image
# config, test node settings, module helpers), not nixpkgs' behaviour.
#
#   nix-instantiate --eval --strict --json scripts/check-packaging.nix -A <attr>
# Attributes ending in "Failures" are lists of problems (empty = pass); the others are data
# for scripts/packaging_checks.py.
{
  root ? ../.,
  pin ? null, # { rev, narHash, lastModified } from the team's pin notes, if available
}:
let
  inherit (builtins)
    all
    attrNames
    concatStringsSep
    elem
    filter
    fromJSON
    fromTOML
    functionArgs
    isAttrs
    isFunction
    isInt
    isString
    listToAttrs
    mapAttrs
    match
    readFile
    stringLength
    substring
    toJSON
    ;

  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  rel =
    p:
    let
      s = toString p;
      r = toString root;
    in
    substring (stringLength r + 1) (stringLength s) s;

  storePath = name: "/nix/store/00000000000000000000000000000000-${name}";

  # Problems as a list: expect "what" got want -> [] or [ "what: got …, want …" ]
  expect =
    what: got: want:
    if got == want then [ ] else [ "${what}: got ${toJSON got}, want ${toJSON want}" ];
  require = what: cond: if cond then [ ] else [ what ];
  concat = builtins.concatLists;

  # Stand-ins for the nixpkgs lib functions used outside of module evaluation.
  stubLib = {
    mkForce = x: x;
    mkDefault = x: x;
    escapeShellArgs = l: concatStringsSep " " (map (x: "'${x}'") l);
    concatMapStrings = f: l: concatStringsSep "" (map f l);
    getExe = p: "${p}/bin/${p.meta.mainProgram}";
    importTOML = f: fromTOML (readFile f);
    licenses.asl20 = "Apache-2.0";
    platforms.linux = systems;
    fileset = {
      toSource = { root, fileset }: fileset;
      unions = l: l;
      maybeMissing = p: "maybe:${rel p}";
    };
  };
  stubPkgs = {
    lib = stubLib;
    runCommand = name: _: _: storePath name;
    writeText = name: _: storePath name;
    writeShellScriptBin = name: _: storePath name;
    python3.withPackages = _: storePath "python3-env";
    curl = storePath "curl";
    dnsutils = storePath "dnsutils";
    mosquitto = storePath "mosquitto";
    openssl = storePath "openssl";
  };

  helpers = import (root + "/nixos/lib.nix");

  # ---- flake.nix and flake.lock -------------------------------------------------------
  flake = import (root + "/flake.nix");
  stubNixpkgs = {
    legacyPackages = listToAttrs (
      map (s: {
        name = s;
        value = throw "nixpkgs is not available to this check";
      }) systems
    );
    lib = throw "nixpkgs lib is not available to this check";
  };
  outputs = flake.outputs {
    self = outputs // {
      outPath = toString root;
      rev = "0000000000000000000000000000000000000000";
    };
    nixpkgs = stubNixpkgs;
  };
  perSystem =
    attr: want:
    concat (
      [ (expect "${attr} systems" (attrNames outputs.${attr}) (builtins.sort builtins.lessThan systems)) ]
      ++ map (s: expect "${attr}.${s}" (attrNames outputs.${attr}.${s}) want) systems
    );

  flakeFailures = concat [
    (require "flake.nix: description" (isString flake.description && flake.description != ""))
    (expect "flake inputs" (mapAttrs (_: i: i.url) flake.inputs) {
      nixpkgs = "github:NixOS/nixpkgs/nixos-25.11";
    })
    (expect "outputs arguments" (functionArgs flake.outputs) {
      self = false;
      nixpkgs = false;
    })
    (expect "outputs" (attrNames outputs) [
      "apps"
      "checks"
      "devShells"
      "formatter"
      "nixosModules"
      "overlays"
      "packages"
    ])
    (perSystem "packages" [
      "default"
      "oci"
      "starling"
    ])
    (perSystem "checks" [
      "bridge"
      "cargo-test"
      "clippy"
      "cluster"
      "fmt"
      "oci"
      "package"
      "rolling"
      "single"
    ])
    (perSystem "devShells" [ "default" ])
    (perSystem "apps" [ "default" ])
    (expect "formatter systems" (attrNames outputs.formatter) (builtins.sort builtins.lessThan systems))
    (concat (map (s: expect "apps.${s}.default.type" outputs.apps.${s}.default.type "app") systems))
    (expect "nixosModules" (attrNames outputs.nixosModules) [ "default" ])
    (expect "nixosModules.default imports"
      (map rel
        (outputs.nixosModules.default {
          lib = stubLib;
          pkgs.stdenv.hostPlatform.system = "x86_64-linux";
        }).imports
      )
      [ "nixos/module.nix" ]
    )
    (expect "overlays" (attrNames outputs.overlays) [ "default" ])
  ];

  lock = fromJSON (readFile (root + "/flake.lock"));
  locked = lock.nodes.nixpkgs.locked;
  lockFailures = concat [
    (expect "flake.lock version" lock.version 7)
    (expect "flake.lock root" lock.root "root")
    (expect "flake.lock nodes" (attrNames lock.nodes) [
      "nixpkgs"
      "root"
    ])
    (expect "flake.lock root inputs" lock.nodes.root.inputs { nixpkgs = "nixpkgs"; })
    (expect "flake.lock nixpkgs.original (= the flake's url)" lock.nodes.nixpkgs.original {
      owner = "NixOS";
      repo = "nixpkgs";
      ref = "nixos-25.11";
      type = "github";
    })
    (expect "flake.lock locked source" {
      inherit (locked) owner repo type;
    } {
      owner = "NixOS";
      repo = "nixpkgs";
      type = "github";
    })
    (require "flake.lock rev is a commit hash" (match "[0-9a-f]{40}" locked.rev != null))
    (require "flake.lock narHash is an SRI sha256" (
      match "sha256-[A-Za-z0-9+/]{43}=" locked.narHash != null
    ))
    (require "flake.lock lastModified is a timestamp" (isInt locked.lastModified))
    (
      if pin == null then
        [ ]
      else
        expect "flake.lock pin (nixpkgs-pin.md)" {
          inherit (locked) rev narHash lastModified;
        } pin
    )
  ];

  # ---- nixos/lib.nix and nixos/module.nix ---------------------------------------------
  single = {
    listeners.tcp.bind = "0.0.0.0:1883";
  };
  clustered = {
    listeners = {
      tcp.bind = "0.0.0.0:1883";
      secure = {
        kind = "tls";
        bind = "[::]:8883";
      };
    };
    admin.bind = "0.0.0.0:18083";
    cluster = {
      role = "core";
      bind = null;
    };
  };
  libFailures = concat [
    (expect "portOf ipv4" (helpers.portOf "0.0.0.0:1883") 1883)
    (expect "portOf ipv6" (helpers.portOf "[::]:8883") 8883)
    (expect "portOf name" (helpers.portOf "core1.starling.test:4370") 4370)
    (expect "isLoopback" (map helpers.isLoopback [
      "127.0.0.1:18083"
      "[::1]:18083"
      "localhost:1"
      "0.0.0.0:18083"
      "[::]:1"
      "10.0.0.1:1"
    ]) [ true true true false false false ])
    (expect "listenerKind by name" (helpers.listenerKind "wss" { bind = "x:1"; }) "wss")
    (expect "listenerKind explicit" (helpers.listenerKind "secure" { kind = "tls"; }) "tls")
    (expect "listenerKind unknown" (helpers.listenerKind "secure" { kind = null; }) null)
    (expect "clusterEnabled single" (helpers.clusterEnabled single) false)
    (expect "clusterEnabled core" (helpers.clusterEnabled clustered) true)
    (expect "firewallPorts single (admin on loopback stays closed)" (helpers.firewallPorts single) [
      1883
    ])
    (expect "firewallPorts cluster" (helpers.firewallPorts clustered) [
      1883
      4370
      8883
      18083
    ])
    (expect "firewallPorts: a listener on loopback stays closed" (helpers.firewallPorts {
      listeners.tcp.bind = "127.0.0.1:1883";
      listeners.tls.bind = "0.0.0.0:8883";
    }) [ 8883 ])
    (expect "unknownKeys"
      (helpers.unknownKeys (builtins.fromJSON (builtins.readFile (root + "/nixos/config-keys.json"))) {
        listeners.tcp = { bind = "0.0.0.0:1883"; bnid = 1; };
        mqtt.max_qos = 1;
        mqt = { };
        drain.window = "5s";
      })
      [ "listeners.tcp.bnid" "mqt" ])
    (expect "expandCredentials" (helpers.expandCredentials {
      cluster.secret_file = "%d/cluster-secret";
      auth.password_file = "/var/lib/starling/passwd";
    }) {
      cluster.secret_file = "/run/credentials/starling.service/cluster-secret";
      auth.password_file = "/var/lib/starling/passwd";
    })
    (expect "credentialRefs" (helpers.credentialRefs {
      cluster.secret_file = "%d/cluster-secret";
      bridges.cloud = {
        password_file = "%d/bridge-password";
        tls.key = "%d/bridge-key";
      };
      auth.password_file = "/var/lib/starling/passwd";
    }) [ "bridge-password" "bridge-key" "cluster-secret" ])
    (expect "needsBindCapability none" (helpers.needsBindCapability clustered) false)
    (expect "needsBindCapability listener" (helpers.needsBindCapability {
      listeners.mqtt = {
        kind = "tcp";
        bind = "0.0.0.0:883";
      };
    }) true)
    (expect "needsBindCapability admin" (helpers.needsBindCapability (
      single // { admin.bind = "127.0.0.1:80"; }
    )) true)
    (expect "filterNulls"
      (helpers.filterNulls {
        a = null;
        b = {
          c = null;
        };
        d = { };
        e = [
          1
          null
        ];
        f.g = "x";
      })
      {
        d = { };
        e = [ 1 ];
        f.g = "x";
      }
    )
  ];

  moduleFailures = concat [
    (expect "module arguments" (functionArgs (import (root + "/nixos/module.nix"))) {
      config = false;
      lib = false;
      pkgs = false;
      utils = false;
    })
    (expect "module helpers" (attrNames helpers) [
      "adminBind"
      "allPorts"
      "clusterBind"
      "clusterEnabled"
      "clusterPorts"
      "credentialRefs"
      "credentialsDir"
      "defaultAdminBind"
      "defaultClusterBind"
      "expandCredentials"
      "filterNulls"
      "firewallPorts"
      "hostOf"
      "isLoopback"
      "listenerKind"
      "listenerKinds"
      "listenerPorts"
      "needsBindCapability"
      "portOf"
      "publicListenerPorts"
      "unique"
      "unknownKeys"
    ])
  ];

  # ---- nix/package.nix and nix/oci.nix ------------------------------------------------
  packageArgs = import (root + "/nix/package.nix") {
    lib = stubLib;
    rustPlatform.buildRustPackage = attrs: attrs;
  };
  package = {
    inherit (packageArgs) pname version doCheck;
    cargoLock = rel packageArgs.cargoLock.lockFile;
    mainProgram = packageArgs.meta.mainProgram;
    fileset = map (p: if isString p then p else rel p) packageArgs.src;
  };

  starlingStub = {
    pname = "starling";
    version = "0.1.0";
    outPath = storePath "starling-0.1.0";
    meta = {
      description = "Starling";
      homepage = "https://example.invalid/starling";
      mainProgram = "starling";
    };
  };
  imageArgs = import (root + "/nix/oci.nix") {
    lib = stubLib;
    dockerTools = {
      buildLayeredImage = attrs: attrs;
      caCertificates = storePath "ca-certificates";
    };
    writeTextDir = path: text: { inherit path text; };
    starling = starlingStub;
    revision = "0000000000000000000000000000000000000000";
  };
  image = {
    inherit (imageArgs)
      name
      tag
      config
      fakeRootCommands
      ;
    files = listToAttrs (
      map (c: {
        name = c.path;
        value = c.text;
      }) (filter (c: isAttrs c && c ? path) imageArgs.contents)
    );
  };

  # ---- nixos/tests --------------------------------------------------------------------
  testNames = [
    "single"
    "cluster"
    "rolling"
    "bridge"
  ];
  loadTest =
    name:
    import (root + "/nixos/tests/${name}.nix") {
      self.nixosModules.default = { };
      pkgs = stubPkgs;
    };
  nodeConfig =
    test: nodeName:
    let
      node = test.nodes.${nodeName};
      args = {
        lib = stubLib;
        pkgs = stubPkgs;
        config.networking = {
          hostName = nodeName;
          fqdn = "${nodeName}.starling.test";
        };
        nodes = mapAttrs (n: _: { networking.primaryIPAddress = "192.0.2.1"; }) test.nodes;
      };
    in
    if isFunction node then node args else node;
  testInfo = mapAttrs (name: _: loadTest name) (listToAttrs (map (n: { name = n; value = null; }) testNames));
  tests = mapAttrs (name: test: {
    inherit (test) name;
    machines = attrNames test.nodes;
    scriptIsSibling = test.testScript == readFile (root + "/nixos/tests/${name}.py");
    usesModule = test.defaults.imports or [ ] == [ { } ];
  }) testInfo;
  testFailures = concat (
    map (
      name:
      let
        t = tests.${name};
      in
      concat [
        (expect "${name}: test name" t.name "starling-${name}")
        (require "${name}: testScript must be builtins.readFile ./${name}.py" t.scriptIsSibling)
        (require "${name}: defaults must import the flake's nixosModules.default" t.usesModule)
      ]
    ) testNames
  );
  # services.starling.settings of every node, nulls dropped as the module does.
  testSettings = mapAttrs (
    name: test:
    mapAttrs (
      nodeName: _:
      let
        cfg = nodeConfig test nodeName;
      in
      if cfg ? services.starling.settings then helpers.filterNulls cfg.services.starling.settings else null
    ) test.nodes
  ) testInfo;
in
{
  inherit
    flakeFailures
    lockFailures
    libFailures
    moduleFailures
    testFailures
    package
    image
    tests
    testSettings
    ;
}
