/**
 * The lab's certificates: one CA, one API-server serving certificate for every cluster (all serve on
 * 127.0.0.1), one client certificate in `system:masters` for the lab's admin and components, and one
 * service-account signing key per cluster. ECDSA P-256, generated in-process (no openssl needed).
 */
import { webcrypto } from "node:crypto";
import { access, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Loads the X.509 library on first use only: most commands never create certificates. */
async function x509Library() {
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  return x509;
}

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const validityYears = 10;

export interface LabPki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
}

/** The files of the lab's PKI folder. */
export function pkiFiles(pkiDir: string): LabPki {
  return {
    caCert: join(pkiDir, "ca.crt"),
    serverCert: join(pkiDir, "apiserver.crt"),
    serverKey: join(pkiDir, "apiserver.key"),
    adminCert: join(pkiDir, "admin.crt"),
    adminKey: join(pkiDir, "admin.key"),
  };
}

/** Service-account key pair files of one cluster. */
export function serviceAccountFiles(
  pkiDir: string,
  cluster: string,
): { publicKey: string; privateKey: string } {
  return { publicKey: join(pkiDir, `${cluster}-sa.pub`), privateKey: join(pkiDir, `${cluster}-sa.key`) };
}

/** Creates the lab's CA and certificates unless they exist; returns their files. */
export async function ensurePki(pkiDir: string, now: Date): Promise<LabPki> {
  const files = pkiFiles(pkiDir);
  if (await exists(files.caCert)) return files;
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });
  const x509 = await x509Library();
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  const notAfter = new Date(now.getTime() + validityYears * 365 * 24 * 60 * 60 * 1000);
  const caKeys = await generateKeys();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "CN=unitfleet-lab-ca",
    notBefore,
    notAfter,
    signingAlgorithm: algorithm,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const issue = async (
    subject: string,
    usage: string[],
    names: Array<{ type: "ip" | "dns"; value: string }>,
  ) => {
    const keys = await generateKeys();
    const extensions: InstanceType<typeof x509.Extension>[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(usage),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ];
    if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: ca.subject,
      notBefore,
      notAfter,
      signingAlgorithm: algorithm,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      extensions,
    });
    return { cert: cert.toString("pem"), key: await privateKeyPem(keys.privateKey) };
  };
  const server = await issue(
    "CN=kube-apiserver",
    [x509.ExtendedKeyUsage.serverAuth],
    [
      { type: "ip", value: "127.0.0.1" },
      { type: "dns", value: "localhost" },
      { type: "dns", value: "kubernetes" },
      { type: "dns", value: "kubernetes.default" },
      { type: "dns", value: "kubernetes.default.svc" },
      { type: "dns", value: "kubernetes.default.svc.cluster.local" },
      { type: "ip", value: "10.96.0.1" },
    ],
  );
  const admin = await issue(
    "CN=unitfleet-lab-admin, O=system:masters",
    [x509.ExtendedKeyUsage.clientAuth],
    [],
  );
  await writeFile(files.serverCert, server.cert);
  await writeFile(files.serverKey, server.key, { mode: 0o600 });
  await writeFile(files.adminCert, admin.cert);
  await writeFile(files.adminKey, admin.key, { mode: 0o600 });
  await writeFile(join(pkiDir, "ca.key"), await privateKeyPem(caKeys.privateKey), { mode: 0o600 });
  // The CA certificate is written last: its presence marks the folder complete.
  await writeFile(files.caCert, ca.toString("pem"));
  return files;
}

/** Creates a cluster's service-account signing key pair unless it exists. */
export async function ensureServiceAccountKeys(
  pkiDir: string,
  cluster: string,
): Promise<{ publicKey: string; privateKey: string }> {
  const files = serviceAccountFiles(pkiDir, cluster);
  if (await exists(files.publicKey)) return files;
  const keys = await generateKeys();
  await writeFile(files.privateKey, await privateKeyPem(keys.privateKey), { mode: 0o600 });
  const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey)).toString("base64");
  await writeFile(files.publicKey, pem("PUBLIC KEY", spki));
  return files;
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key as webcrypto.CryptoKey)).toString(
    "base64",
  );
  return pem("PRIVATE KEY", der);
}

function pem(label: string, base64: string): string {
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function serial(): string {
  // A positive 16-byte serial: the first hex digit is kept below 8.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
