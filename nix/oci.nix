# OCI image (Docker image archive): `nix build .#oci && docker load < result`,
# or `skopeo copy docker-archive:result docker://ghcr.io/starling-mqtt/starling:<tag>`.
{
  lib,
  dockerTools,
  writeTextDir,
  starling,
  revision ? "dirty",
}:
let
  uid = "10001";

  # Used when no configuration is mounted over /etc/starling (Kubernetes mounts a ConfigMap).
  defaultConfig = writeTextDir "etc/starling/starling.toml" ''
    data_dir = "/var/lib/starling"

    [listeners.tcp]
    bind = "0.0.0.0:1883"

    [listeners.ws]
    bind = "0.0.0.0:8083"

    [admin]
    bind = "0.0.0.0:18083"

    [log]
    format = "json"
  '';

  # Numeric, non-root user; Kubernetes' runAsNonRoot needs the numeric id in the image config.
  passwd = writeTextDir "etc/passwd" ''
    root:x:0:0:root:/root:/sbin/nologin
    starling:x:${uid}:${uid}:Starling MQTT broker:/var/lib/starling:/sbin/nologin
    nobody:x:65534:65534:nobody:/var/empty:/sbin/nologin
  '';
  group = writeTextDir "etc/group" ''
    root:x:0:
    starling:x:${uid}:
    nobody:x:65534:
  '';
  nsswitch = writeTextDir "etc/nsswitch.conf" ''
    passwd: files
    group: files
    hosts: files dns
  '';
in
dockerTools.buildLayeredImage {
  name = "ghcr.io/starling-mqtt/starling";
  tag = starling.version;

  contents = [
    starling # also links /bin/starling, for `starling ctl` in exec probes and preStop hooks
    dockerTools.caCertificates
    passwd
    group
    nsswitch
    defaultConfig
  ];

  fakeRootCommands = ''
    mkdir -p var/lib/starling tmp
    chown ${uid}:${uid} var/lib/starling
    chmod 0750 var/lib/starling
    chmod 1777 tmp
  '';

  config = {
    Entrypoint = [
      "${lib.getExe starling}"
      "serve"
    ];
    Cmd = [
      "--config"
      "/etc/starling/starling.toml"
    ];
    User = "${uid}:${uid}";
    WorkingDir = "/var/lib/starling";
    Env = [
      "PATH=/bin"
      "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
    ];
    ExposedPorts = {
      "1883/tcp" = { }; # MQTT
      "8883/tcp" = { }; # MQTT over TLS
      "8083/tcp" = { }; # MQTT over WebSocket
      "8084/tcp" = { }; # MQTT over secure WebSocket
      "18083/tcp" = { }; # admin API, /metrics, /healthz, /readyz
      "4370/tcp" = { }; # cluster link
    };
    Volumes = {
      "/var/lib/starling" = { };
    };
    StopSignal = "SIGTERM";
    Labels = {
      "org.opencontainers.image.title" = "starling";
      "org.opencontainers.image.description" = starling.meta.description;
      "org.opencontainers.image.version" = starling.version;
      "org.opencontainers.image.revision" = revision;
      "org.opencontainers.image.source" = starling.meta.homepage;
      "org.opencontainers.image.url" = starling.meta.homepage;
      "org.opencontainers.image.licenses" = "Apache-2.0";
    };
  };
}
