# Test-only CA and server certificates, made at build time (no private keys in the repository).
# Output: ca.crt, and <name>.crt / <name>.key for each name, valid for that DNS name and localhost.
{
  pkgs,
  names,
}:
pkgs.runCommand "starling-test-certs" { nativeBuildInputs = [ pkgs.openssl ]; } ''
  mkdir -p $out
  cd $out

  cat > ca.cnf <<'CNF'
  [req]
  distinguished_name = dn
  prompt = no
  [dn]
  CN = Starling VM test CA
  [ca]
  basicConstraints = critical, CA:TRUE
  keyUsage = critical, keyCertSign, cRLSign
  subjectKeyIdentifier = hash
  CNF
  openssl req -x509 -new -config ca.cnf -extensions ca \
    -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout ca.key -out ca.crt

  for name in ${pkgs.lib.escapeShellArgs names}; do
    cat > "$name.ext" <<EXT
  basicConstraints = critical, CA:FALSE
  keyUsage = critical, digitalSignature
  extendedKeyUsage = serverAuth, clientAuth
  subjectAltName = DNS:$name, DNS:localhost, IP:127.0.0.1
  authorityKeyIdentifier = keyid
  subjectKeyIdentifier = hash
  EXT
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=$name" -keyout "$name.key" -out "$name.csr"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -extfile "$name.ext" -out "$name.crt"
    openssl verify -CAfile ca.crt "$name.crt"
    rm "$name.csr" "$name.ext"
  done
  rm ca.key ca.cnf ca.srl
''
