# What the network-namespace driver (./nsdriver.py) needs from a VM test, evaluated from the
# test's own .nix file and from ../../module.nix, without nixpkgs (Nix >= 2.8, offline):
#
#   nix-instantiate --eval --strict --json nixos/tests/driver/eval.nix \
#     --argstr test cluster --argstr pkgsDir /run/dir/pkgs --arg addresses '{ dns = "198.18.0.1"; ... }'
#
# nixpkgs is replaced by stand-ins: packages are directories the driver prepares under
# `pkgsDir` (pkgs.curl = "${pkgsDir}/curl", with bin/ inside), and the builders leave markers
# in strings that the driver turns into files:
#   @@NSD:text:NAME@@TEXT@@NSD:end@@     pkgs.writeText            -> a file holding TEXT
#   @@NSD:bin:NAME@@TEXT@@NSD:end@@      pkgs.writeShellScriptBin  -> a directory with bin/NAME
#   @@NSD:run:NAME@@SCRIPT@@NSD:end@@    pkgs.runCommand           -> $out after running SCRIPT
#   @@NSD:toml:NAME@@JSON@@NSD:end@@     (pkgs.formats.toml {}).generate -> the TOML file
# The NixOS module itself is evaluated with a tiny stand-in of the module system: option
# defaults are filled in from its own declarations (submodule, attrsOf, nullOr), so
# services.starling.settings, the generated starling.toml and the systemd unit come from
# module.nix, not from a copy of it.
{
  test,
  pkgsDir,
  addresses,
  root ? ../../..,
}:
let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    isAttrs
    isFunction
    listToAttrs
    mapAttrs
    replaceStrings
    stringLength
    substring
    toJSON
    ;

  marker = kind: name: body: "@@NSD:${kind}:${name}@@${body}@@NSD:end@@";
  pkg = name: "${pkgsDir}/${name}";

  # lib.mkForce keeps its priority so that the node's value wins over the module's.
  mkForce = x: {
    _nsdForce = x;
  };
  unForce = x: if isAttrs x && x ? _nsdForce then x._nsdForce else x;

  shellQuote = s: "'" + replaceStrings [ "'" ] [ "'\\''" ] s + "'";

  lib = {
    inherit mkForce;
    mkDefault = x: x;
    escapeShellArgs = l: concatStringsSep " " (map shellQuote l);
    concatMapStrings = f: l: concatStringsSep "" (map f l);
    hasPrefix = p: s: substring 0 (stringLength p) s == p;
    all = builtins.all;
    any = builtins.any;
    attrNames = builtins.attrNames;
    attrValues = builtins.attrValues;
    literalExpression = x: x;
    mkOption = attrs: attrs // { _nsdOption = true; };
    mkEnableOption = _: lib.mkOption { default = false; };
    mkPackageOption =
      pkgs: name: _:
      lib.mkOption { default = pkgs.${name}; };
    mkIf = condition: content: {
      _nsdIf = condition;
      inherit content;
    };
    optional = c: x: if c then [ x ] else [ ];
    optionalAttrs = c: a: if c then a else { };
    optionalString = c: s: if c then s else "";
    types = {
      nullOr = t: { _nsdNullOr = t; };
      attrsOf = t: { _nsdAttrsOf = t; };
      submodule = m: { _nsdSubmodule = m; };
      listOf = _: { };
      enum = _: { };
      str = { };
      bool = { };
      path = { };
      port = { };
      ints.positive = { };
    };
  };

  pkgs = {
    inherit lib;
    formats.toml = _: {
      type = { };
      generate = name: value: marker "toml" name (toJSON value);
    };
    writeText = name: text: marker "text" name text;
    writeShellScriptBin = name: text: marker "bin" name text;
    runCommand = name: env: script: marker "run" name (
      # nativeBuildInputs go on the build's PATH, as in stdenv.
      concatStringsSep "" (map (p: "PATH=${p}/bin:$PATH\n") (env.nativeBuildInputs or [ ])) + script
    );
    python3.withPackages = _: pkg "python3-env";
    coreutils = pkg "coreutils";
    curl = pkg "curl";
    dnsutils = pkg "dnsutils";
    jq = pkg "jq";
    mosquitto = pkg "mosquitto";
    openssl = pkg "openssl";
    starling = pkg "starling";
  };
  utils.escapeSystemdExecArgs = l: concatStringsSep " " (map shellQuote l);

  # ---- a stand-in of the module system, for module.nix's option declarations ----------
  # Fill `value` (a definition, or absent) from an option declaration's default and type.
  fillOption =
    decl: defined: value:
    if defined then
      fillType decl.type or { } (unForce value)
    else if decl ? default then
      fillType decl.type or { } decl.default
    else
      throw "option without a default is not set";
  fillType =
    type: value:
    if type ? _nsdNullOr then
      (if value == null then null else fillType type._nsdNullOr value)
    else if type ? _nsdAttrsOf then
      mapAttrs (name: fillNamed type._nsdAttrsOf name) value
    else if type ? _nsdSubmodule then
      fillNamed type "" value
    else
      value;
  fillNamed =
    type: name: value:
    if type ? _nsdSubmodule then
      let
        m = type._nsdSubmodule;
        module = if isFunction m then m { inherit name; } else m;
      in
      fillOptions (module.options or { }) value
    else
      fillType type value;
  # Declared options get their defaults; freeform keys stay as defined.
  fillOptions =
    decls: value:
    value
    // mapAttrs (
      name: decl:
      if decl ? _nsdOption then
        fillOption decl (value ? ${name}) (value.${name} or null)
      else
        fillOptions decl (value.${name} or { })
    ) decls;

  # ---- the test and its nodes -----------------------------------------------------------
  testFile = import (root + "/nixos/tests/${test}.nix") {
    self.nixosModules.default = { };
    inherit pkgs;
  };
  nodeNames = attrNames testFile.nodes;
  nodesArg = mapAttrs (name: _: { networking.primaryIPAddress = addresses.${name}; }) testFile.nodes;

  evalNode =
    name:
    let
      raw = testFile.nodes.${name};
      domain = node.networking.domain or null;
      networking = {
        hostName = name;
        inherit domain;
        fqdn = if domain == null then throw "networking.fqdn of ${name}: no networking.domain" else "${name}.${domain}";
        fqdnOrHostName = if domain == null then name else "${name}.${domain}";
        primaryIPAddress = addresses.${name};
      };
      config = {
        inherit networking;
        services.starling = starlingCfg;
      };
      node =
        if isFunction raw then
          raw {
            inherit config lib pkgs;
            nodes = nodesArg;
          }
        else
          raw;
      module = import (root + "/nixos/module.nix") {
        inherit config lib pkgs utils;
      };
      starlingCfg = fillOptions module.options.services.starling (node.services.starling or { });
      enabled = starlingCfg.enable;
      moduleConfig = module.config.content;
      nodeUnit = node.systemd.services.starling or { };
      unit = moduleConfig.systemd.services.starling;
      failedAssertions = map (a: a.message) (filter (a: !a.assertion) moduleConfig.assertions);
    in
    {
      networking = {
        inherit (networking) hostName domain fqdnOrHostName primaryIPAddress;
      };
      nameservers = node.networking.nameservers or [ ];
      systemPackages =
        (node.environment.systemPackages or [ ])
        ++ (if enabled then moduleConfig.environment.systemPackages else [ ]);
      etc = mapAttrs (_: e: e.source) (
        (node.environment.etc or { }) // (if enabled then moduleConfig.environment.etc else { })
      );
      starling =
        if enabled then
          {
            settings = starlingCfg.settings;
            environmentFile = starlingCfg.environmentFile;
            assertions = failedAssertions;
            inherit (moduleConfig) warnings;
            user = moduleConfig.users.users.starling;
            unit = {
              wantedBy = unForce (nodeUnit.wantedBy or unit.wantedBy);
              inherit (unit) description after wants;
              serviceConfig = unit.serviceConfig;
            };
          }
        else
          null;
      coredns =
        if node.services.coredns.enable or false then { config = node.services.coredns.config; } else null;
    };
in
{
  inherit (testFile) name;
  machineNames = nodeNames;
  machines = listToAttrs (
    map (name: {
      inherit name;
      value = evalNode name;
    }) nodeNames
  );
}
