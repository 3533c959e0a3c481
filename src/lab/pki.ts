/**
 * The lab's certificates: one CA, one API-server serving certificate for every cluster (all serve on
 * 127.0.0.1), one client certificate in `system:masters` for the lab's admin and components, one serving
 * certificate for every cluster's kwok server (the kubelet endpoint of its fake nodes, also on 127.0.0.1) with
 * the client certificate the API servers show it, and one service-account signing key per cluster.
 */
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCertificateAuthority, createKeyPair, issueCertificate } from "../pki/certificates.ts";

const validDays = 3650;

export interface LabPki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  /** kwok's serving certificate: what the API servers reach for `pods/log` and the like. */
  kwokServerCert: string;
  kwokServerKey: string;
  /** The client certificate the API servers present to kwok's server (`--kubelet-client-certificate`). */
  kubeletClientCert: string;
  kubeletClientKey: string;
}

/** The files of the lab's PKI folder. */
export function pkiFiles(pkiDir: string): LabPki {
  return {
    caCert: join(pkiDir, "ca.crt"),
    serverCert: join(pkiDir, "apiserver.crt"),
    serverKey: join(pkiDir, "apiserver.key"),
    adminCert: join(pkiDir, "admin.crt"),
    adminKey: join(pkiDir, "admin.key"),
    kwokServerCert: join(pkiDir, "kwok-server.crt"),
    kwokServerKey: join(pkiDir, "kwok-server.key"),
    kubeletClientCert: join(pkiDir, "apiserver-kubelet-client.crt"),
    kubeletClientKey: join(pkiDir, "apiserver-kubelet-client.key"),
  };
}

/** Service-account key pair files of one cluster. */
export function serviceAccountFiles(
  pkiDir: string,
  cluster: string,
): { publicKey: string; privateKey: string } {
  return { publicKey: join(pkiDir, `${cluster}-sa.pub`), privateKey: join(pkiDir, `${cluster}-sa.key`) };
}

/**
 * Creates the lab's CA and certificates unless they exist; returns their files. A folder made before the kwok
 * server's certificates existed gets them from its own CA.
 */
export async function ensurePki(pkiDir: string, now: Date): Promise<LabPki> {
  const files = pkiFiles(pkiDir);
  if (!(await exists(files.caCert))) await createPki(pkiDir, now);
  if (!(await exists(files.kwokServerCert))) await createKubeletCertificates(pkiDir, now);
  return files;
}

async function createPki(pkiDir: string, now: Date): Promise<void> {
  const files = pkiFiles(pkiDir);
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });
  const ca = await createCertificateAuthority("unitfleet-lab-ca", now, validDays);
  const server = await issueCertificate(
    ca,
    {
      subject: "CN=kube-apiserver",
      usage: "server",
      names: [
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
        { type: "dns", value: "kubernetes" },
        { type: "dns", value: "kubernetes.default" },
        { type: "dns", value: "kubernetes.default.svc" },
        { type: "dns", value: "kubernetes.default.svc.cluster.local" },
        { type: "ip", value: "10.96.0.1" },
      ],
      validDays,
    },
    now,
  );
  const admin = await issueCertificate(
    ca,
    { subject: "CN=unitfleet-lab-admin, O=system:masters", usage: "client", validDays },
    now,
  );
  await writeFile(files.serverCert, server.cert);
  await writeFile(files.serverKey, server.key, { mode: 0o600 });
  await writeFile(files.adminCert, admin.cert);
  await writeFile(files.adminKey, admin.key, { mode: 0o600 });
  await writeFile(join(pkiDir, "ca.key"), ca.key, { mode: 0o600 });
  // The CA certificate is written last: its presence marks the folder complete.
  await writeFile(files.caCert, ca.cert);
}

/** The kwok server's serving certificate and the API servers' client certificate for it, from the lab's CA. */
async function createKubeletCertificates(pkiDir: string, now: Date): Promise<void> {
  const files = pkiFiles(pkiDir);
  const ca = {
    cert: await readFile(files.caCert, "utf8"),
    key: await readFile(join(pkiDir, "ca.key"), "utf8"),
  };
  const server = await issueCertificate(
    ca,
    {
      subject: "CN=kwok-server",
      usage: "server",
      // The API servers dial a node's InternalIP, which kwok sets to 127.0.0.1.
      names: [
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
      ],
      validDays,
    },
    now,
  );
  // No group: kwok does not check it, and the lab's CA is also every API server's client CA.
  const client = await issueCertificate(
    ca,
    { subject: "CN=kube-apiserver-kubelet-client", usage: "client", validDays },
    now,
  );
  await writeFile(files.kubeletClientCert, client.cert);
  await writeFile(files.kubeletClientKey, client.key, { mode: 0o600 });
  await writeFile(files.kwokServerKey, server.key, { mode: 0o600 });
  // Written last: its presence marks these certificates complete.
  await writeFile(files.kwokServerCert, server.cert);
}

/** Creates a cluster's service-account signing key pair unless it exists. */
export async function ensureServiceAccountKeys(
  pkiDir: string,
  cluster: string,
): Promise<{ publicKey: string; privateKey: string }> {
  const files = serviceAccountFiles(pkiDir, cluster);
  if (await exists(files.publicKey)) return files;
  const pair = await createKeyPair();
  await writeFile(files.privateKey, pair.privateKey, { mode: 0o600 });
  await writeFile(files.publicKey, pair.publicKey);
  return files;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
