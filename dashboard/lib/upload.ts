/**
 * Upload one file as multipart with progress. fetch() cannot report upload progress in
 * browsers yet, so this uses XMLHttpRequest; the session cookie rides along (same origin)
 * and the proxy turns it into a bearer token, as for every /api call.
 */
import { loginRedirect } from "@/lib/api";

export interface UploadHandle<T> {
  promise: Promise<T>;
  abort: () => void;
}

export class UploadError extends Error {
  constructor(
    public status: number,
    public detail: unknown,
  ) {
    super(typeof detail === "string" ? detail : `upload failed (${status})`);
  }
}

export function uploadFile<T>(
  path: string,
  file: File,
  onProgress: (fraction: number) => void,
  field = "file",
): UploadHandle<T> {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<T>((resolve, reject) => {
    xhr.open("POST", path);
    xhr.responseType = "text";
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = xhr.responseText;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body as T);
        return;
      }
      if (xhr.status === 401) loginRedirect();
      const detail =
        typeof body === "object" && body !== null && "detail" in body
          ? (body as { detail: unknown }).detail
          : `the server answered ${xhr.status}`;
      reject(new UploadError(xhr.status, detail));
    };
    xhr.onerror = () => reject(new UploadError(0, "network error: the upload did not reach the server"));
    xhr.onabort = () => reject(new UploadError(0, "upload cancelled"));
    const form = new FormData();
    form.append(field, file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
