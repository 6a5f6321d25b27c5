# Threads, fork, Dir, IO.popen and a socket on loopback: what a Ruby
# program leans on besides its standard library.
require "socket"
require "digest"
require "json"

sums = 4.times.map { |i| Thread.new { (1..(i + 1) * 10_000).sum } }.map(&:value)
puts "threads #{sums.inspect}"

reader, writer = IO.pipe
pid = fork do
  reader.close
  writer.puts Digest::SHA256.hexdigest("child #{Process.ppid == Process.pid ? 'odd' : 'ok'}")
  exit! 7
end
writer.close
puts "fork #{reader.read.strip} #{Process.wait2(pid)[1].exitstatus}"

Dir.mkdir("rbdir") unless Dir.exist?("rbdir")
%w[b a c].each { |n| File.write(File.join("rbdir", n), n * 3) }
puts "dir #{Dir.children("rbdir").sort.inspect} #{Dir.glob("rbdir/*").map { |f| File.size(f) }.sum}"

puts "popen #{IO.popen(["sh", "-c", "echo $((6 * 7))"], &:read).strip} #{$?.exitstatus}"

server = TCPServer.new("127.0.0.1", 0)
port = server.addr[1]
t = Thread.new { c = server.accept; c.puts(c.gets.upcase); c.close }
s = TCPSocket.new("127.0.0.1", port)
s.puts "hello over loopback"
puts "socket #{s.gets.strip}"
t.join
puts JSON.generate({ "pid_positive" => Process.pid > 0, "env" => ENV.fetch("RB_MARK", "unset") })
