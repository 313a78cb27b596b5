// Collects what the user dropped or picked: files, whole folders (recursively) and zips.

export interface PickedFile {
  name: string; // path relative to what was dropped: "folder/sub/file.dcm"
  file: File;
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, prefix: string, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    out.push({ name: prefix + entry.name, file: await entryFile(entry as FileSystemFileEntry) });
    return;
  }
  if (!entry.isDirectory) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries returns at most ~100 entries per call: keep reading until empty.
  for (;;) {
    const batch = await readEntries(reader);
    if (batch.length === 0) break;
    for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
  }
}

export async function filesFromDrop(data: DataTransfer): Promise<PickedFile[]> {
  const entries = Array.from(data.items)
    .filter((item) => item.kind === "file")
    .map((item) => item.webkitGetAsEntry());
  const out: PickedFile[] = [];
  if (entries.every((entry) => entry !== null)) {
    for (const entry of entries) await walk(entry as FileSystemEntry, "", out);
    return out;
  }
  return filesFromInput(data.files);
}

export function filesFromInput(list: FileList | null): PickedFile[] {
  return Array.from(list ?? []).map((file) => ({
    name: file.webkitRelativePath || file.name,
    file,
  }));
}

// Same name twice (a folder dropped twice): keep one.
export function merge(current: PickedFile[], added: PickedFile[]): PickedFile[] {
  const byName = new Map(current.map((item) => [item.name, item]));
  for (const item of added) byName.set(item.name, item);
  return Array.from(byName.values()).sort((a, b) => a.name.localeCompare(b.name));
}
