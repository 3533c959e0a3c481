/**
 * X.509 certificates for the lab and the hub: a CA, and certificates it signs for servers and clients.
 * ECDSA P-256, generated in-process with WebCrypto (no openssl needed). PEM in, PEM out.
 */
import { webcrypto, X509Certificate } from "node:crypto";

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const day = 24 * 60 * 60 * 1000;

export interface PemPair {
  cert: string;
  key: string;
}

export interface IssueRequest {
  /** Distinguished name, e.g. "CN=kube-apiserver" or "CN=admin, O=system:masters". */
  subject: string;
  usage: "server" | "client";
  /** Subject alternative names. */
  names?: Array<{ type: "ip" | "dns"; value: string }>;
  validDays: number;
}

/** Loads the X.509 library on first use only: most commands never create certificates. */
async function x509Library() {
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  return x509;
}

export async function createCertificateAuthority(
  commonName: string,
  now: Date,
  validDays: number,
): Promise<PemPair> {
  const x509 = await x509Library();
  const keys = await generateKeys();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now.getTime() - 60 * 60 * 1000),
    notAfter: new Date(now.getTime() + validDays * day),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: ca.toString("pem"), key: await privateKeyPem(keys.privateKey) };
}

export async function issueCertificate(ca: PemPair, request: IssueRequest, now: Date): Promise<PemPair> {
  const x509 = await x509Library();
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey("pkcs8", pemBody(ca.key), algorithm, false, ["sign"]);
  const keys = await generateKeys();
  const extensions: InstanceType<typeof x509.Extension>[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([
      request.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  if (request.names && request.names.length > 0)
    extensions.push(new x509.SubjectAlternativeNameExtension(request.names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: request.subject,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60 * 60 * 1000),
    notAfter: new Date(now.getTime() + request.validDays * day),
    signingAlgorithm: algorithm,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions,
  });
  return { cert: cert.toString("pem"), key: await privateKeyPem(keys.privateKey) };
}

/** A bare key pair (PKCS#8 private key, SPKI public key), e.g. for service-account token signing. */
export async function createKeyPair(): Promise<{ publicKey: string; privateKey: string }> {
  const keys = await generateKeys();
  const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey)).toString("base64");
  return { publicKey: pem("PUBLIC KEY", spki), privateKey: await privateKeyPem(keys.privateKey) };
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return pem("PRIVATE KEY", Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key)).toString("base64"));
}

function pem(label: string, base64: string): string {
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function pemBody(text: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(text.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64"));
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

/** A key pair and a PKCS#10 request for it (what a relay or agent sends when it joins). */
export async function createCertificateRequest(commonName: string): Promise<{ csr: string; key: string }> {
  const x509 = await x509Library();
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: algorithm,
  });
  return { csr: csr.toString("pem"), key: await privateKeyPem(keys.privateKey) };
}

export interface SignedRequest {
  cert: string;
  serial: string;
  notAfter: Date;
}

/**
 * Signs the public key of a certificate request, after checking the request's own signature. The subject is
 * the caller's choice (the identity the hub vouches for), never the one written in the request.
 */
export async function signCertificateRequest(
  ca: PemPair,
  csrPem: string,
  subject: string,
  now: Date,
  validDays: number,
  serving?: { names: Array<{ type: "ip" | "dns"; value: string }> },
): Promise<SignedRequest | { refused: string }> {
  const x509 = await x509Library();
  let request: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  try {
    request = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    return { refused: "the certificate request is not a PEM PKCS#10 request" };
  }
  if (!(await request.verify())) return { refused: "the certificate request's signature does not verify" };
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey("pkcs8", pemBody(ca.key), algorithm, false, ["sign"]);
  const serialNumber = serial();
  const notAfter = new Date(now.getTime() + validDays * day);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 5 * 60 * 1000),
    notAfter,
    signingAlgorithm: algorithm,
    publicKey: await request.publicKey.export(),
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        serving
          ? [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]
          : [x509.ExtendedKeyUsage.clientAuth],
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      ...(serving && serving.names.length > 0
        ? [new x509.SubjectAlternativeNameExtension(serving.names)]
        : []),
    ],
  });
  return { cert: cert.toString("pem"), serial: serialNumber, notAfter };
}

/** True when less than a third of a certificate's life is left: time to renew it. */
export function dueForRenewal(certPem: string, now: Date): boolean {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return now.getTime() > to - (to - from) / 3;
}

/** A certificate serial as the hub records it: lower-case hexadecimal without leading zeros. */
export function normaliseSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, "");
}
