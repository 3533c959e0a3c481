/**
 * The contexts of a kubeconfig file, read with client-node as an agent reads its own: `unitfleet up
 * --kubeconfig` joins one cluster per context, and asks here which there are before it starts anything.
 */
import { KubeConfig } from "@kubernetes/client-node";

/** The names of every context in the kubeconfig `file`, in the file's order. */
export function kubeconfigContexts(file: string): string[] {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc.getContexts().map((c) => c.name);
}
