{
  description = "Starling: a clustered MQTT 3.1.1/5.0 broker";

  # The only input. flake.lock pins nixos-25.11; move with `nix flake update`.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];

      # The per-system loop, written out instead of pulling in flake-utils.
      forAllSystems =
        f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system nixpkgs.legacyPackages.${system};
          }) systems
        );
    in
    {
      overlays.default = final: prev: {
        starling = final.callPackage ./nix/package.nix { };
      };

      # services.starling, with the package of this flake as its default.
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nixos/module.nix ];
          services.starling.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };

      packages = forAllSystems (
        system: pkgs: {
          default = self.packages.${system}.starling;
          starling = pkgs.callPackage ./nix/package.nix { };
          oci = pkgs.callPackage ./nix/oci.nix {
            starling = self.packages.${system}.starling;
            revision = self.rev or "dirty";
          };
        }
      );

      checks = forAllSystems (
        system: pkgs:
        let
          starling = self.packages.${system}.starling;

          # Cargo runs on the package's source and vendored crates; the output is a stamp.
          cargoCheck =
            name: attrs:
            starling.overrideAttrs (
              old:
              {
                pname = "starling-${name}";
                installPhase = "mkdir -p $out";
                dontFixup = true;
              }
              // attrs old
            );

          vmTest = file: pkgs.testers.runNixOSTest (import file { inherit self pkgs; });
        in
        {
          package = starling;
          oci = self.packages.${system}.oci;

          fmt = cargoCheck "fmt" (old: {
            nativeBuildInputs = old.nativeBuildInputs ++ [ pkgs.rustfmt ];
            buildPhase = ''
              runHook preBuild
              cargo fmt --all --check
              runHook postBuild
            '';
          });

          clippy = cargoCheck "clippy" (old: {
            nativeBuildInputs = old.nativeBuildInputs ++ [ pkgs.clippy ];
            buildPhase = ''
              runHook preBuild
              cargo clippy --workspace --all-targets --locked --offline -- --deny warnings
              runHook postBuild
            '';
          });

          # `cargo test`, kept out of the package (doCheck = false there): the integration
          # tests start brokers in network namespaces and talk to them with mosquitto
          # clients. Inside the Nix sandbox `ip netns add` is refused (no CAP_NET_ADMIN), and
          # the test harness skips those scenarios when it is; unit, property and loopback
          # tests run here, and the multi-node scenarios run as the VM tests below.
          cargo-test = cargoCheck "cargo-test" (old: {
            dontCargoBuild = true;
            doCheck = true;
            cargoCheckType = "debug"; # build the tests once, without the release LTO
            nativeCheckInputs = (old.nativeCheckInputs or [ ]) ++ [
              pkgs.mosquitto
              pkgs.iproute2
              pkgs.openssl
            ];
          });

          # NixOS VM tests; each scenario is in nixos/tests/<name>.py.
          single = vmTest ./nixos/tests/single.nix;
          cluster = vmTest ./nixos/tests/cluster.nix;
          rolling = vmTest ./nixos/tests/rolling.nix;
          bridge = vmTest ./nixos/tests/bridge.nix;
        }
      );

      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            packages = [
              pkgs.cargo
              pkgs.rustc
              pkgs.clippy
              pkgs.rustfmt
              pkgs.rust-analyzer
              pkgs.cargo-nextest
              pkgs.mosquitto
              pkgs.openssl
              pkgs.iproute2
            ];
            RUST_SRC_PATH = "${pkgs.rustPlatform.rustLibSrc}";
          };
        }
      );

      apps = forAllSystems (
        system: pkgs: {
          default = {
            type = "app";
            program = "${self.packages.${system}.starling}/bin/starling";
            meta.description = "Run the Starling MQTT broker (`nix run . -- serve --config starling.toml`)";
          };
        }
      );

      formatter = forAllSystems (system: pkgs: pkgs.nixfmt-tree);
    };
}
