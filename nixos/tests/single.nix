# NixOS VM test: one gateway with a plain and a TLS listener and password auth, used by
# mosquitto clients; a persistent session survives `systemctl restart starling`.
# The scenario is ./single.py, so a local (network-namespace) driver can run it as well.
{ self, pkgs, ... }:
let
  certs = import ./certs.nix {
    inherit pkgs;
    names = [ "broker" ];
  };
in
{
  name = "starling-single";

  defaults = {
    imports = [ self.nixosModules.default ];
  };

  nodes = {
    broker =
      { lib, pkgs, ... }:
      {
        services.starling = {
          enable = true;
          openFirewall = true;
          settings = {
            listeners = {
              tcp = {
                bind = "0.0.0.0:1883";
              };
              tls = {
                bind = "0.0.0.0:8883";
                cert = "${certs}/broker.crt";
                key = "${certs}/broker.key"; # test-only key; real keys never go to the store
              };
            };
            # The file is made by the test script with `starling passwd`.
            auth = {
              allow_anonymous = false;
              password_file = "/etc/starling/passwd";
            };
            storage.sync = "always";
          };
        };
        # Started by the test script once the password file exists.
        systemd.services.starling.wantedBy = lib.mkForce [ ];
        environment.systemPackages = [
          pkgs.curl
          pkgs.mosquitto
        ];
      };

    client =
      { pkgs, ... }:
      {
        environment.systemPackages = [ pkgs.mosquitto ];
        environment.etc."starling-test/ca.crt".source = "${certs}/ca.crt";
      };
  };

  testScript = builtins.readFile ./single.py;
}
