# NixOS VM test: a cluster found through DNS SRV records. `dns` serves
# _cluster._tcp.starling.test for the three cores plus A records; three cores and one
# replicant form a cluster, a client checks pub/sub across nodes, the Raft leader is
# crashed, a new one is elected and pub/sub still works. Scenario: ./cluster.py.
{ self, pkgs, ... }:
let
  domain = "starling.test";

  # Test-only secret, given as a real deployment would: through environmentFile.
  secretEnv = pkgs.writeText "starling-cluster.env" ''
    STARLING_CLUSTER__SECRET=vm-test-cluster-secret
  '';

  broker =
    role:
    {
      config,
      nodes,
      pkgs,
      ...
    }:
    let
      dnsAddress = nodes.dns.networking.primaryIPAddress;
    in
    {
      networking.domain = domain;
      networking.nameservers = [ dnsAddress ];
      services.starling = {
        enable = true;
        openFirewall = true;
        environmentFile = "${secretEnv}";
        settings = {
          # node_name defaults to the FQDN, e.g. core1.starling.test
          auth.allow_anonymous = true;
          cluster = {
            inherit role;
            advertise = "${config.networking.fqdn}:4370";
            bootstrap_expect = if role == "core" then 3 else null;
            discovery = {
              kind = "dns-srv";
              name = "_cluster._tcp.${domain}";
              nameserver = "${dnsAddress}:53";
              interval = "2s";
            };
          };
        };
      };
      environment.systemPackages = [
        pkgs.curl
        pkgs.mosquitto
      ];
    };
in
{
  name = "starling-cluster";

  defaults = {
    imports = [ self.nixosModules.default ];
  };

  nodes = {
    dns =
      { nodes, pkgs, ... }:
      let
        address = name: nodes.${name}.networking.primaryIPAddress;
        cores = [
          "core1"
          "core2"
          "core3"
        ];
        # SRV records for the cores (the voters new nodes must reach), A records for all.
        zone = pkgs.writeText "${domain}.zone" (
          ''
            $ORIGIN ${domain}.
            $TTL 5
            @ IN SOA dns.${domain}. hostmaster.${domain}. 1 60 30 600 5
            @ IN NS dns.${domain}.
          ''
          + pkgs.lib.concatMapStrings (name: ''
            ${name} IN A ${address name}
          '') [ "dns" "replicant1" ]
          + pkgs.lib.concatMapStrings (name: ''
            ${name} IN A ${address name}
            _cluster._tcp IN SRV 0 10 4370 ${name}.${domain}.
          '') cores
        );
      in
      {
        services.coredns = {
          enable = true;
          config = ''
            ${domain}:53 {
              file ${zone}
              log
              errors
            }
          '';
        };
        networking.firewall.allowedTCPPorts = [ 53 ];
        networking.firewall.allowedUDPPorts = [ 53 ];
      };

    core1 = broker "core";
    core2 = broker "core";
    core3 = broker "core";
    replicant1 = broker "replicant";

    client =
      { nodes, pkgs, ... }:
      {
        networking.nameservers = [ nodes.dns.networking.primaryIPAddress ];
        environment.systemPackages = [
          pkgs.dnsutils
          pkgs.mosquitto
        ];
      };
  };

  testScript = builtins.readFile ./cluster.py;
}
