# The starling package: `nix build` (packages.default), also pkgs.starling via overlays.default.
{ lib, rustPlatform }:
let
  cargoToml = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = "starling";
  inherit (cargoToml.package) version;

  # Only what cargo needs, so edits to nixos/, k8s/, monitoring/ or docs do not rebuild it.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../src
      # The load generator: a workspace member, so cargo needs its manifest (not built here).
      ../bench
      # mqtt-protocol-core, patched ([patch.crates-io] in Cargo.toml).
      ../vendor
      (lib.fileset.maybeMissing ../tests)
      # The packet generator and seeds of tests/it/fuzz_structured.rs.
      (lib.fileset.maybeMissing ../fuzz/gen)
      (lib.fileset.maybeMissing ../fuzz/seeds/structured)
      (lib.fileset.maybeMissing ../benches)
      (lib.fileset.maybeMissing ../examples)
      (lib.fileset.maybeMissing ../build.rs)
      (lib.fileset.maybeMissing ../.cargo)
    ];
  };

  # One fixed-output fetch per crate, hashes taken from Cargo.lock: no cargoHash to bump.
  cargoLock.lockFile = ../Cargo.lock;

  # The test suite starts real brokers in network namespaces (needs CAP_NET_ADMIN) and drives
  # them with mosquitto clients; the build sandbox has neither, so the package does not run
  # it. checks.<system>.cargo-test runs `cargo test` as a separate derivation.
  doCheck = false;

  meta = {
    description = cargoToml.package.description;
    homepage = cargoToml.package.repository;
    license = lib.licenses.asl20;
    mainProgram = "starling";
    platforms = lib.platforms.linux;
  };
}
