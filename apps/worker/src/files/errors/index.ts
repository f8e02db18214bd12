export { FileNotFoundError } from './file-not-found-error';
export { HostileFileError } from './hostile-file-error';
export { UnprocessableImageError } from './unprocessable-image-error';
export { UnsafeFileKeyError } from './unsafe-file-key-error';
export { UploadsDirUnavailableError } from './uploads-dir-unavailable-error';
