# Pure helpers for ./module.nix.
#
# Only builtins are used (no nixpkgs lib), so scripts/check-packaging can evaluate
# and unit-test them with a bare `nix-instantiate --eval`, without nixpkgs.
let
  inherit (builtins)
    any
    attrNames
    elem
    filter
    foldl'
    fromJSON
    head
    isAttrs
    isList
    listToAttrs
    map
    match
    sort
    ;
in
rec {
  # Listener kinds the broker knows; a listener named like one of them may omit `kind`.
  listenerKinds = [
    "tcp"
    "tls"
    "ws"
    "wss"
  ];

  # Broker defaults that matter to the module (firewall, capabilities).
  defaultAdminBind = "127.0.0.1:18083";
  defaultClusterBind = "0.0.0.0:4370";

  # "0.0.0.0:1883" -> 1883, "[::]:8883" -> 8883, "core1.example:4370" -> 4370
  portOf =
    bind:
    let
      m = match ".*:([0-9]+)" bind;
    in
    if m == null then
      throw "services.starling: no port in bind address '${bind}' (expected HOST:PORT)"
    else
      fromJSON (head m);

  # "127.0.0.1:18083" -> "127.0.0.1", "[::1]:18083" -> "[::1]"
  hostOf =
    bind:
    let
      m = match "(.*):[0-9]+" bind;
    in
    if m == null then bind else head m;

  isLoopback =
    bind: match "127[.][0-9]+[.][0-9]+[.][0-9]+|[[]::1[]]|localhost" (hostOf bind) != null;

  # The listener's transport: its `kind`, else its name when that is a kind, else null.
  listenerKind =
    name: listener:
    if (listener.kind or null) != null then
      listener.kind
    else if elem name listenerKinds then
      name
    else
      null;

  # A node takes part in a cluster when it has a role or a discovery method.
  clusterEnabled =
    settings:
    let
      cluster = settings.cluster or { };
    in
    (cluster.role or null) != null || (cluster.discovery or null) != null;

  clusterBind =
    settings:
    let
      bind = (settings.cluster or { }).bind or null;
    in
    if bind == null then defaultClusterBind else bind;

  adminBind =
    settings:
    let
      bind = (settings.admin or { }).bind or null;
    in
    if bind == null then defaultAdminBind else bind;

  listenerPorts =
    settings:
    let
      listeners = settings.listeners or { };
    in
    map (name: portOf listeners.${name}.bind) (attrNames listeners);

  # The listeners reachable from other hosts (not bound to loopback), for the firewall.
  publicListenerPorts =
    settings:
    let
      listeners = settings.listeners or { };
    in
    map (name: portOf listeners.${name}.bind) (
      filter (name: !(isLoopback listeners.${name}.bind)) (attrNames listeners)
    );

  clusterPorts = settings: if clusterEnabled settings then [ (portOf (clusterBind settings)) ] else [ ];

  # Every TCP port the broker listens on.
  allPorts =
    settings: listenerPorts settings ++ [ (portOf (adminBind settings)) ] ++ clusterPorts settings;

  unique = list: foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ] list;

  # Ports to open with openFirewall: the MQTT listeners and the admin API unless they only
  # listen on loopback, and the cluster link when clustered (unless it binds loopback).
  firewallPorts =
    settings:
    let
      admin = adminBind settings;
    in
    sort builtins.lessThan (
      unique (
        publicListenerPorts settings
        ++ (if clusterEnabled settings && isLoopback (clusterBind settings) then [ ] else clusterPorts settings)
        ++ (if isLoopback admin then [ ] else [ (portOf admin) ])
      )
    );

  # Keys of `settings` the broker does not know, as dotted paths. `tree` is
  # nixos/config-keys.json (a unit test keeps it equal to the broker's configuration): an
  # object per table, null for a value, "*" for tables of any name (listeners.<name>).
  unknownKeys =
    tree: settings:
    let
      walk =
        prefix: t: v:
        builtins.concatLists (
          map (
            name:
            let
              path = if prefix == "" then name else "${prefix}.${name}";
              sub = if t ? ${name} then t.${name} else t."*" or false;
            in
            if sub == false then
              [ path ]
            else if isAttrs sub && isAttrs v.${name} then
              walk path sub v.${name}
            else
              [ ]
          ) (attrNames v)
        );
    in
    walk "" tree settings;

  # "%d/NAME" in a string setting is the credential NAME that systemd's LoadCredential= puts
  # in the unit's credentials directory (systemd expands %d only in unit files, not in the
  # broker's TOML, so the module does).
  credentialsDir = "/run/credentials/starling.service";
  expandCredentials =
    value:
    if isAttrs value then
      builtins.mapAttrs (_: expandCredentials) value
    else if isList value then
      map expandCredentials value
    else if builtins.isString value && match "%d/.*" value != null then
      credentialsDir + builtins.substring 2 (builtins.stringLength value) value
    else
      value;

  # The credential names that "%d/NAME" strings in `value` refer to (each must be declared in
  # services.starling.credentials, or the broker would look for a file that is not there).
  credentialRefs =
    value:
    if isAttrs value then
      builtins.concatLists (map (name: credentialRefs value.${name}) (attrNames value))
    else if isList value then
      builtins.concatLists (map credentialRefs value)
    else if builtins.isString value && match "%d/.*" value != null then
      [ (builtins.substring 3 (builtins.stringLength value) value) ]
    else
      [ ];

  # Binding below 1024 needs CAP_NET_BIND_SERVICE.
  needsBindCapability = settings: any (port: port < 1024) (allPorts settings);

  # pkgs.formats.toml has no null: drop nulls (the module's unset typed options), and drop
  # tables that only held nulls. A table the user wrote empty stays.
  filterNulls =
    value:
    if isAttrs value then
      let
        kept = filter (name: value.${name} != null) (attrNames value);
        cleaned = map (name: {
          inherit name;
          value = filterNulls value.${name};
        }) kept;
        emptiedByUs = entry: isAttrs entry.value && entry.value == { } && value.${entry.name} != { };
      in
      listToAttrs (filter (entry: !(emptiedByUs entry)) cleaned)
    else if isList value then
      map filterNulls (filter (x: x != null) value)
    else
      value;
}
