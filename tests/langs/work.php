<?php
// proc_open, a socket pair and a TCP socket on loopback, pcntl_fork, files
// and the time zone: what a PHP CLI script leans on.
$p = proc_open(["sh", "-c", "tr a-z A-Z; echo err >&2; exit 3"],
               [0 => ["pipe", "r"], 1 => ["pipe", "w"], 2 => ["pipe", "w"]], $pipes);
fwrite($pipes[0], "through a pipe\n");
fclose($pipes[0]);
$out = stream_get_contents($pipes[1]);
$err = stream_get_contents($pipes[2]);
echo "proc_open ", trim($out), " ", trim($err), " ", proc_close($p), "\n";

$server = stream_socket_server("tcp://127.0.0.1:0", $errno, $errstr);
$name = stream_socket_get_name($server, false);
$client = stream_socket_client("tcp://$name");
$conn = stream_socket_accept($server);
fwrite($client, "ping\n");
fwrite($conn, strtoupper(fgets($conn)));
echo "socket ", trim(fgets($client)), "\n";

$pair = socket_create_pair(AF_UNIX, SOCK_STREAM, 0, $sv) ? $sv : null;
$pid = pcntl_fork();
if ($pid === 0) {
    socket_write($pair[1], sprintf("child %s", hash("sha256", "pcntl")));
    exit(5);
}
pcntl_waitpid($pid, $status);
echo "fork ", socket_read($pair[0], 200), " ", pcntl_wexitstatus($status), "\n";

@mkdir("phpdir");
foreach (["b", "a", "c"] as $n) file_put_contents("phpdir/$n", str_repeat($n, 4));
$names = scandir("phpdir");
echo "dir ", implode(",", $names), " ", array_sum(array_map("filesize", glob("phpdir/*"))), "\n";
echo "time ", date_default_timezone_get(), " ", date("c", 86400 * 365), "\n";
echo json_encode(["sapi" => PHP_SAPI, "int" => PHP_INT_SIZE, "ext" => extension_loaded("sockets")]), "\n";
