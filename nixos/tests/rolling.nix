# NixOS VM test: rolling restart. A client publishes numbered QoS 1 messages while a
# persistent QoS 1 subscriber records them; every node (three cores found through static
# seeds, one replicant) is restarted in turn; no acknowledged message may be lost.
# Scenario: ./rolling.py; clients: ./tools/mqtt-ids.py.
{ self, pkgs, ... }:
let
  cores = [
    "core1"
    "core2"
    "core3"
  ];

  broker =
    role:
    { config, pkgs, ... }:
    {
      services.starling = {
        enable = true;
        openFirewall = true;
        environmentFile = "${pkgs.writeText "starling-cluster.env" ''
          STARLING_CLUSTER__SECRET=vm-test-cluster-secret
        ''}";
        settings = {
          # node_name defaults to the host name (core1, ...), which /etc/hosts resolves.
          auth.allow_anonymous = true;
          storage.sync = "always";
          cluster = {
            inherit role;
            advertise = "${config.networking.hostName}:4370";
            bootstrap_expect = if role == "core" then 3 else null;
            discovery = {
              kind = "static";
              seeds = map (name: "${name}:4370") cores;
            };
          };
        };
      };
      environment.systemPackages = [ pkgs.curl ];
    };

  mqttIds = pkgs.writeShellScriptBin "mqtt-ids" ''
    exec ${pkgs.python3.withPackages (ps: [ ps.paho-mqtt ])}/bin/python3 ${./tools/mqtt-ids.py} "$@"
  '';
in
{
  name = "starling-rolling";

  defaults = {
    imports = [ self.nixosModules.default ];
  };

  nodes = {
    core1 = broker "core";
    core2 = broker "core";
    core3 = broker "core";
    replicant1 = broker "replicant";

    client = {
      environment.systemPackages = [
        mqttIds
        pkgs.mosquitto
      ];
    };
  };

  testScript = builtins.readFile ./rolling.py;
}
