import { defineJob } from '../define';
import { UploadedFilePayload } from '../../schemas/common';

export default defineJob({
  description: 'Check an uploaded CV (PDF or DOCX)',
  schema: UploadedFilePayload('ValidateCvPayload'),
  example: { userId: 'user-123', fileKey: 'cv/user-123.pdf' },
  keyField: 'fileKey',
  // Searchable by whose file it is; the file key itself (a path) is not kept.
  ledgerKey: 'userId',
  keepResult: true,
  // A re-upload under the same key is a new file: checked again once the last check finished.
  duplicates: 'pending',
  enqueuedBy: 'platform',
  options: ['delay', 'priority'],
});
