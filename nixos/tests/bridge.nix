# NixOS VM test: an edge gateway bridged to a 3-core cluster (docs/bridge.md). The cores take
# the bridge on a TLS listener that wants a client certificate and a password; the gateway
# gets its password and its TLS key as systemd credentials (services.starling.credentials,
# "%d/NAME"). Devices are clients on the gateway itself. The gateway's link is cut, messages
# published meanwhile are acknowledged from the on-disk backlog, the gateway crashes and boots
# again still cut off, the link returns: every message arrives upstream in order, and
# commands published in the cluster reach the gateway's devices. Scenario: ./bridge.py.
{ self, pkgs, ... }:
let
  cores = [
    "core1"
    "core2"
    "core3"
  ];
  certs = import ./certs.nix {
    inherit pkgs;
    names = cores ++ [ "gateway" ];
  };

  core =
    { config, lib, pkgs, ... }:
    {
      services.starling = {
        enable = true;
        openFirewall = true;
        environmentFile = "${pkgs.writeText "starling-cluster.env" ''
          STARLING_CLUSTER__SECRET=vm-test-cluster-secret
        ''}";
        settings = {
          listeners = {
            # Test clients on the cluster side.
            tcp = {
              bind = "0.0.0.0:1883";
              allow_anonymous = true;
            };
            # The bridge's way in: TLS with a client certificate, and a password.
            tls = {
              bind = "0.0.0.0:8883";
              cert = "${certs}/${config.networking.hostName}.crt";
              key = "${certs}/${config.networking.hostName}.key"; # test-only key
              ca = "${certs}/ca.crt";
              verify = "required";
              allow_anonymous = false;
            };
          };
          # Made by the test script with `starling passwd` before the unit starts.
          auth.password_file = "/etc/starling/passwd";
          storage.sync = "always";
          cluster = {
            role = "core";
            advertise = "${config.networking.hostName}:4370";
            bootstrap_expect = 3;
            discovery = {
              kind = "static";
              seeds = map (name: "${name}:4370") cores;
            };
          };
        };
      };
      systemd.services.starling.wantedBy = lib.mkForce [ ];
      environment.systemPackages = [
        pkgs.curl
        pkgs.mosquitto
      ];
    };
in
{
  name = "starling-bridge";

  defaults = {
    imports = [ self.nixosModules.default ];
  };

  nodes = {
    core1 = core;
    core2 = core;
    core3 = core;

    gateway =
      { pkgs, ... }:
      {
        services.starling = {
          enable = true;
          # Test-only secrets; a real gateway names files under /run/keys or /run/secrets.
          credentials = {
            bridge-password = "${pkgs.writeText "bridge-password" "gateway-bridge-password"}";
            bridge-key = "${certs}/gateway.key";
          };
          settings = {
            listeners.tcp.bind = "0.0.0.0:1883";
            auth.allow_anonymous = true;
            storage.sync = "always";
            bridges.cloud = {
              addresses = map (name: "${name}:8883") cores;
              protocol = "5";
              client_id = "gateway-cloud";
              keep_alive = "5s";
              session_expiry = "1h";
              reconnect_min = "500ms";
              reconnect_max = "3s";
              username = "gateway";
              password_file = "%d/bridge-password";
              tls = {
                ca = "${certs}/ca.crt";
                cert = "${certs}/gateway.crt";
                key = "%d/bridge-key";
              };
              backlog = {
                max_messages = 100000;
                overflow = "refuse";
              };
              out = [
                {
                  topic = "dev/#";
                  qos = 1;
                  remote_prefix = "gateway/";
                }
              ];
              "in" = [
                {
                  topic = "cmd/#";
                  qos = 1;
                  remote_prefix = "gateway/";
                }
              ];
            };
          };
        };
        environment.systemPackages = [
          pkgs.curl
          pkgs.mosquitto
        ];
      };
  };

  testScript = builtins.readFile ./bridge.py;
}
