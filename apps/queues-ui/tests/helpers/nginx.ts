import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { freePort, makeTempDir, waitFor } from '@ceres/testing';

/** Debian's nginx (`apt-get install nginx`). */
export const NGINX_PATH = '/usr/sbin/nginx';

export const hasNginx = () => existsSync(NGINX_PATH);

export interface Nginx {
  url: string;
  port: number;
  /** The error log so far, for failure messages. */
  errors(): Promise<string>;
  close(): Promise<void>;
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => socket.end(() => resolve(true)));
    socket.once('error', () => resolve(false));
  });

/**
 * A real nginx on a free loopback port with a config of its own in a temp folder (pid, logs and
 * temp paths there too), in the foreground as one process: `http` and `server` are pasted into
 * the `http {}` block and the one `server {}` block.
 */
export async function startNginx({ http = '', server }: { http?: string; server: string }): Promise<Nginx> {
  if (!hasNginx()) throw new Error(`${NGINX_PATH} is missing: apt-get install -y --no-install-recommends nginx`);
  const dir = await makeTempDir('nginx');
  const port = await freePort();
  for (const sub of ['logs', 'temp']) await mkdir(`${dir.path}/${sub}`);
  const config = `
daemon off;
master_process off;
worker_processes 1;
pid ${dir.path}/nginx.pid;
error_log ${dir.path}/logs/error.log info;
events { worker_connections 128; }
http {
  access_log ${dir.path}/logs/access.log;
  client_body_temp_path ${dir.path}/temp/client;
  proxy_temp_path ${dir.path}/temp/proxy;
  fastcgi_temp_path ${dir.path}/temp/fastcgi;
  uwsgi_temp_path ${dir.path}/temp/uwsgi;
  scgi_temp_path ${dir.path}/temp/scgi;
${http}
  server {
    listen 127.0.0.1:${port};
    server_name localhost;
${server}
  }
}
`;
  await writeFile(`${dir.path}/nginx.conf`, config);
  const child = spawn(NGINX_PATH, ['-p', dir.path, '-c', `${dir.path}/nginx.conf`, '-e', `${dir.path}/logs/error.log`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errors = () => readFile(`${dir.path}/logs/error.log`, 'utf8').catch(() => '');
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr}${await errors()}`);
        return canConnect(port);
      },
      { timeoutMs: 10_000, what: 'nginx to listen' },
    );
  } catch (error) {
    child.kill('SIGKILL');
    await dir.remove();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    errors,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGQUIT');
        // A graceful stop gets 5 s, then SIGKILL.
        const deadline = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(deadline);
      }
      await dir.remove();
    },
  };
}
