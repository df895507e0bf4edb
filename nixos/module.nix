# NixOS module for Starling, a clustered MQTT broker: services.starling.
#
#   services.starling = {
#     enable = true;
#     openFirewall = true;
#     credentials.cluster-secret = "/run/keys/starling-cluster-secret";  # LoadCredential
#     settings = {
#       listeners.tcp.bind = "0.0.0.0:1883";
#       cluster = {
#         role = "core";
#         secret_file = "%d/cluster-secret";   # the credential above
#         bootstrap_expect = 3;
#         discovery = { kind = "dns-srv"; name = "_cluster._tcp.starling.example.internal"; };
#       };
#     };
#   };
#
# `settings` is written to starling.toml as is (RFC 42), "%d/NAME" strings pointing at the
# credential NAME. Keys the broker does not know are an evaluation error: they are checked
# against ./config-keys.json, which a unit test keeps equal to the broker's configuration
# (src/config/keys.rs). Local `starling ctl` (root or the starling user) needs no key: it
# uses the control socket in data_dir.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  cfg = config.services.starling;
  helpers = import ./lib.nix;
  settingsFormat = pkgs.formats.toml { };

  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    mkPackageOption
    optional
    optionalAttrs
    optionalString
    types
    ;

  configFile = settingsFormat.generate "starling.toml" (
    helpers.expandCredentials (helpers.filterNulls cfg.settings)
  );
  knownKeys = builtins.fromJSON (builtins.readFile ./config-keys.json);
  unknownKeys = helpers.unknownKeys knownKeys (helpers.filterNulls cfg.settings);
  clustered = cfg.settings.cluster.role != null;
  bridgeList = lib.attrValues (if cfg.settings.bridges == null then { } else cfg.settings.bridges);

  stateDir = "/var/lib/starling";
  dataDirIsStateDir =
    cfg.settings.data_dir == stateDir || lib.hasPrefix "${stateDir}/" cfg.settings.data_dir;
  needsBindCapability = helpers.needsBindCapability cfg.settings;

  listenerType = types.submodule (
    { name, ... }:
    {
      freeformType = settingsFormat.type;
      options = {
        kind = mkOption {
          type = types.nullOr (types.enum helpers.listenerKinds);
          default = null;
          description = ''
            Transport of the listener. May stay unset when the listener's name
            (here `${name}`) is one of `tcp`, `tls`, `ws` or `wss`.
            TLS listeners (`tls`, `wss`) also need `cert` and `key`, and take `ca`,
            `verify` (`none`, `optional`, `required`) and `crl`; WebSocket listeners take
            `path` (default `/mqtt`). Every listener takes `max_connections`,
            `allow_anonymous` and `proxy_protocol`.
          '';
        };
        bind = mkOption {
          type = types.str;
          example = "0.0.0.0:8883";
          description = ''
            IP address and port to listen on (`IP:PORT`, `[::]:PORT` for IPv6); the broker
            takes an IP literal, not a host name.
          '';
        };
      };
    }
  );

  discoveryType = types.submodule {
    freeformType = settingsFormat.type;
    options = {
      kind = mkOption {
        type = types.enum [
          "static"
          "dns-srv"
          "dns-a"
        ];
        description = ''
          How peers are found: `static` from `seeds`, `dns-srv` from the SRV records of
          `name` (e.g. `_cluster._tcp.starling.example.internal`), `dns-a` from the A/AAAA
          records of `name` with `port`.
        '';
      };
      seeds = mkOption {
        type = types.nullOr (types.listOf types.str);
        default = null;
        example = [
          "core1.example.internal:4370"
          "core2.example.internal:4370"
          "core3.example.internal:4370"
        ];
        description = "Peer cluster addresses, for `kind = \"static\"`.";
      };
      name = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "_cluster._tcp.starling.example.internal";
        description = "DNS name to look up, for `dns-srv` and `dns-a`.";
      };
      port = mkOption {
        type = types.nullOr types.port;
        default = null;
        description = "Cluster port of the hosts a `dns-a` lookup returns (broker default 4370).";
      };
      interval = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "5s";
        description = "How often discovery runs again.";
      };
      nameserver = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "192.0.2.53:53";
        description = "DNS server to ask instead of the system resolver.";
      };
    };
  };

  clusterType = types.submodule {
    freeformType = settingsFormat.type;
    options = {
      role = mkOption {
        type = types.nullOr (
          types.enum [
            "core"
            "replicant"
          ]
        );
        default = null;
        description = ''
          `core` nodes vote in the Raft group that holds the cluster catalog;
          `replicant` nodes follow it and serve clients. Unset: a single node.
        '';
      };
      bind = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "0.0.0.0:4370";
        description = "Cluster link listen address (broker default `${helpers.defaultClusterBind}`).";
      };
      advertise = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "core1.example.internal:4370";
        description = "Address the other nodes use to reach this one.";
      };
      bootstrap_expect = mkOption {
        type = types.nullOr types.ints.positive;
        default = null;
        example = 3;
        description = "Number of core nodes to wait for before the first cluster forms.";
      };
      discovery = mkOption {
        type = types.nullOr discoveryType;
        default = null;
        description = "How this node finds its peers (`[cluster.discovery]`).";
      };
    };
  };

  bridgeTlsType = types.submodule {
    freeformType = settingsFormat.type;
    options = {
      ca = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/etc/ssl/certs/cloud-ca.pem";
        description = "CA file the upstream's certificate is checked against (default: the system roots).";
      };
      cert = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "%d/bridge-cert";
        description = "Client certificate (mTLS), PEM.";
      };
      key = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "%d/bridge-key";
        description = ''
          Private key of `cert`, PEM. A secret: give it as a credential
          (`services.starling.credentials.bridge-key = "/run/keys/…"; … key = "%d/bridge-key";`),
          not as a file in the Nix store.
        '';
      };
      server_name = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Name the upstream's certificate must carry (default: the host of the address).";
      };
    };
  };

  bridgeType = types.submodule {
    freeformType = settingsFormat.type;
    options = {
      addresses = mkOption {
        type = types.listOf types.str;
        example = [
          "mqtt.cloud.example.org:8883"
          "198.51.100.12:8883"
        ];
        description = "Upstream brokers (`HOST:PORT`), tried in turn; a DNS name may resolve to several.";
      };
      username = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "User name for the upstream.";
      };
      password_file = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "%d/bridge-password";
        description = ''
          File holding the upstream password. Give it as a credential:
          `services.starling.credentials.bridge-password = "/run/keys/bridge-password";` and
          `password_file = "%d/bridge-password";` (readable by the service only, never in the Nix store).
        '';
      };
      password = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The upstream password in clear; ends up in the world-readable Nix store, prefer `password_file`.";
      };
      tls = mkOption {
        type = types.nullOr bridgeTlsType;
        default = null;
        description = "`[bridges.<name>.tls]`: TLS towards the upstream.";
      };
    };
  };

  adminType = types.submodule {
    freeformType = settingsFormat.type;
    options.bind = mkOption {
      type = types.str;
      default = helpers.defaultAdminBind;
      description = ''
        Admin HTTP API (`/metrics`, `/healthz`, `/readyz`, `/api/v1`) listen address.
        `starling ctl` on this host does not need it: run as root or the starling user, it
        uses the control socket in `data_dir`.
      '';
    };
    options.api_keys_file = mkOption {
      type = types.nullOr types.str;
      default = "/var/lib/starling/admin-api-keys";
      description = ''
        File of admin API keys, one per line, for clients of the HTTP API from elsewhere
        (read at start-up and on reload). When it does not exist, the broker creates it at
        first start with one random key (mode 0600; see `generate_api_key`); it stays under the
        StateDirectory, which `ProtectSystem=strict` leaves writable.
      '';
    };
    options.generate_api_key = mkOption {
      type = types.bool;
      default = true;
      description = "Create `api_keys_file` with a random key when it does not exist.";
    };
  };
in
{
  options.services.starling = {
    enable = mkEnableOption "Starling, a clustered MQTT broker";

    package = mkPackageOption pkgs "starling" { };

    settings = mkOption {
      default = { };
      description = ''
        Broker configuration, written to {file}`starling.toml`. Unknown keys are an error
        for the broker. Everything here ends up in the world-readable Nix store: put
        secrets in {option}`services.starling.environmentFile` instead.
      '';
      example = literalExpression ''
        {
          listeners.tls = {
            bind = "0.0.0.0:8883";
            cert = "/var/lib/acme/mqtt.example.org/cert.pem";
            key = "/var/lib/acme/mqtt.example.org/key.pem";
          };
          auth = { allow_anonymous = false; password_file = "/var/lib/starling/passwd"; };
          storage.sync = "always";
          log.format = "json";
        }
      '';
      type = types.submodule {
        freeformType = settingsFormat.type;
        options = {
          node_name = mkOption {
            type = types.str;
            default = config.networking.fqdnOrHostName;
            defaultText = literalExpression "config.networking.fqdnOrHostName";
            description = "Name of this node in the cluster; must be stable across restarts.";
          };
          data_dir = mkOption {
            type = types.str;
            default = stateDir;
            description = ''
              Where the node keeps its data. A directory outside ${stateDir} is created by
              systemd-tmpfiles and made writable for the service.
            '';
          };
          listeners = mkOption {
            type = types.attrsOf listenerType;
            default = {
              tcp = {
                bind = "0.0.0.0:1883";
              };
            };
            description = ''
              Named listener tables (`[listeners.<name>]`). Defining any listener replaces
              the default plain TCP listener on port 1883.
            '';
          };
          cluster = mkOption {
            type = clusterType;
            default = { };
            description = "`[cluster]`. The secret belongs in the environment file (`STARLING_CLUSTER__SECRET`).";
          };
          admin = mkOption {
            type = adminType;
            default = { };
            description = "`[admin]`.";
          };
          bridges = mkOption {
            type = types.nullOr (types.attrsOf bridgeType);
            default = null;
            description = ''
              `[bridges.<name>]`: this broker's bridges to upstream brokers (docs/bridge.md), with
              their `out` and `in` topic rules (lists of `{ topic, qos, local_prefix,
              remote_prefix, retain }`) and `backlog` bounds. Secrets (`password_file`,
              `tls.key`) belong in {option}`services.starling.credentials`, referred to as `"%d/NAME"`.
            '';
          };
        };
      };
    };

    credentials = mkOption {
      type = types.attrsOf types.path;
      default = { };
      example = {
        cluster-secret = "/run/keys/starling-cluster-secret";
        passwd = "/run/keys/starling-passwd";
      };
      description = ''
        Files passed to the service with systemd's `LoadCredential=` (read as root, readable
        only by the service, never copied to the Nix store). Refer to one in `settings` as
        `"%d/NAME"`, e.g. `cluster.secret_file = "%d/cluster-secret"` or
        `auth.password_file = "%d/passwd"`.
      '';
    };

    grace = mkOption {
      type = types.ints.positive;
      default = 20;
      description = ''
        `starling serve --grace`: seconds the whole shutdown after SIGTERM may take. The stop
        budget (docs/operations.md): in a cluster, `ExecStop` first runs
        `starling ctl node drain --wait` (up to drain.window + 1 s + drain.takeover, 16 s by
        default), then SIGTERM; `TimeoutStopSec` is `grace` + 10 s, which bounds each of the two.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/starling.env";
      description = ''
        File of `NAME=value` lines added to the service environment, for secrets:
        `STARLING_` variables override the configuration, with `__` between table names,
        e.g. `STARLING_CLUSTER__SECRET=…`. It is read by systemd as root and never copied
        to the Nix store.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open the TCP ports of all configured listeners, of the cluster link (when the node
        is clustered) and of the admin API, except those bound to loopback.
      '';
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--bind" "0.0.0.0:1884" ];
      description = "Extra arguments for `starling serve`.";
    };
  };

  config = mkIf cfg.enable {
    assertions =
      let
        listeners = cfg.settings.listeners;
        discovery = cfg.settings.cluster.discovery;
        credentialRefs = helpers.credentialRefs (helpers.filterNulls cfg.settings);
        kindOf = name: helpers.listenerKind name listeners.${name};
        isTls = name: builtins.elem (kindOf name) [ "tls" "wss" ];
      in
      [
        {
          assertion = unknownKeys == [ ];
          message = "services.starling.settings: unknown keys for the broker: ${builtins.concatStringsSep ", " unknownKeys} (see nixos/config-keys.json).";
        }
        {
          assertion =
            clustered
            || helpers.filterNulls cfg.settings.cluster == { };
          message = "services.starling.settings.cluster: set `role` (core or replicant); without it the node is not clustered and the other cluster keys would be ignored.";
        }
        {
          assertion = lib.hasPrefix "/" cfg.settings.data_dir;
          message = "services.starling.settings.data_dir must be an absolute path.";
        }
        {
          assertion = lib.all (name: kindOf name != null) (lib.attrNames listeners);
          message = "services.starling.settings.listeners: set `kind` (tcp, tls, ws, wss) on listeners not named after one.";
        }
        {
          assertion = lib.all (name: !(isTls name) || (listeners.${name} ? cert && listeners.${name} ? key)) (
            lib.attrNames listeners
          );
          message = "services.starling.settings.listeners: tls and wss listeners need `cert` and `key`.";
        }
        {
          assertion =
            discovery == null || discovery.kind != "static" || !(builtins.elem discovery.seeds [ null [ ] ]);
          message = "services.starling.settings.cluster.discovery: kind = \"static\" needs `seeds`.";
        }
        {
          assertion = discovery == null || discovery.kind == "static" || discovery.name != null;
          message = "services.starling.settings.cluster.discovery: DNS discovery needs `name`.";
        }
        {
          assertion = lib.all (name: builtins.elem name (lib.attrNames cfg.credentials)) credentialRefs;
          message = "services.starling.settings: \"%d/NAME\" refers to credentials not declared in services.starling.credentials: ${builtins.concatStringsSep ", " (builtins.filter (name: !(builtins.elem name (lib.attrNames cfg.credentials))) credentialRefs)}.";
        }
        {
          assertion = lib.all (b: b.password == null || b.password_file == null) bridgeList;
          message = "services.starling.settings.bridges: set `password_file` or `password`, not both.";
        }
        {
          assertion = lib.all (b: b.tls == null || ((b.tls.cert == null) == (b.tls.key == null))) bridgeList;
          message = "services.starling.settings.bridges: a client certificate (`tls.cert`) needs its `tls.key`, and a key its certificate.";
        }
        {
          assertion = cfg.settings.cluster.role != "replicant" || discovery != null;
          message = "services.starling.settings.cluster: a replicant needs `discovery` to find the cores.";
        }
      ];

    warnings =
      optional (lib.any (b: b.password != null) bridgeList) ''
        services.starling.settings.bridges.<name>.password is written to the world-readable Nix store.
        Use a credential instead: services.starling.credentials.bridge-password = "/run/keys/…";
        and password_file = "%d/bridge-password".
      ''
      ++ optional (cfg.settings.cluster ? secret) ''
      services.starling.settings.cluster.secret is written to the world-readable Nix store.
      Put STARLING_CLUSTER__SECRET=... in services.starling.environmentFile instead.
    '';

    users.users.starling = {
      isSystemUser = true;
      group = "starling";
      home = cfg.settings.data_dir;
      description = "Starling MQTT broker";
    };
    users.groups.starling = { };

    # `starling ctl`, `starling passwd` and `starling config check` for the administrator.
    environment.systemPackages = [ cfg.package ];
    environment.etc."starling/starling.toml".source = configFile;

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall (helpers.firewallPorts cfg.settings);

    systemd.tmpfiles.rules = optional (
      !dataDirIsStateDir
    ) "d '${cfg.settings.data_dir}' 0750 starling starling - -";

    systemd.services.starling = {
      description = "Starling MQTT broker";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      restartTriggers = [ configFile ];

      serviceConfig = {
        # READY=1 once every listener is bound and storage is open (joining the cluster is
        # what /readyz reports); WATCHDOG=1 every 15 s.
        Type = "notify";
        NotifyAccess = "main";
        WatchdogSec = "30s";
        ExecStart =
          "${cfg.package}/bin/starling serve --config ${configFile} --grace ${toString cfg.grace}"
          + optionalString (cfg.extraArgs != [ ]) " ${utils.escapeSystemdExecArgs cfg.extraArgs}";
        # SIGHUP reloads certificates, users and ACLs.
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = "2s";
        # Joining a cluster can wait for its peers.
        TimeoutStartSec = "5min";
        # The stop budget (docs/operations.md, "Stopping a node: the budget"): ExecStop's drain,
        # then SIGTERM, whose shutdown --grace bounds; this bounds each of the two.
        TimeoutStopSec = "${toString (cfg.grace + 10)}s";
        LimitNOFILE = 1048576;

        User = "starling";
        Group = "starling";
        StateDirectory = "starling";
        StateDirectoryMode = "0750";
        RuntimeDirectory = "starling";
        RuntimeDirectoryMode = "0750";
        WorkingDirectory = cfg.settings.data_dir;
        ReadWritePaths = optional (!dataDirIsStateDir) cfg.settings.data_dir;
        UMask = "0077";
        LoadCredential = map (name: "${name}:${cfg.credentials.${name}}") (lib.attrNames cfg.credentials);

        # Hardening
        AmbientCapabilities = if needsBindCapability then [ "CAP_NET_BIND_SERVICE" ] else "";
        CapabilityBoundingSet = if needsBindCapability then [ "CAP_NET_BIND_SERVICE" ] else "";
        DevicePolicy = "closed";
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        NoNewPrivileges = true;
        PrivateDevices = true;
        PrivateTmp = true;
        # A user namespace would hide CAP_NET_BIND_SERVICE from the host network namespace.
        PrivateUsers = !needsBindCapability;
        ProtectClock = true;
        ProtectControlGroups = true;
        ProtectHome = true;
        ProtectHostname = true;
        ProtectKernelLogs = true;
        ProtectKernelModules = true;
        ProtectKernelTunables = true;
        ProtectProc = "invisible";
        ProtectSystem = "strict";
        RemoveIPC = true;
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
          "~@resources"
        ];
        # A filtered call fails with EPERM instead of killing the broker.
        SystemCallErrorNumber = "EPERM";
      }
      // optionalAttrs clustered {
        # Clients are sent to the other nodes, spread over drain.window, before SIGTERM; "-":
        # a node that already stopped has nothing to drain.
        ExecStop = "-${cfg.package}/bin/starling ctl --data-dir ${cfg.settings.data_dir} node drain --wait";
      }
      // optionalAttrs (cfg.environmentFile != null) {
        EnvironmentFile = cfg.environmentFile;
      };
    };
  };
}
