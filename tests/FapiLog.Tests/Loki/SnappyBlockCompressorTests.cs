using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using FapiLog.Loki;
using Snappier;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>
/// The sink's snappy compressor, read back with Snappier's decoder (a separate implementation of the format), over
/// inputs chosen to reach every element kind: short and long literals, one- and two-byte-offset copies, copies split
/// over 64 bytes, fragments of 64 KiB, and incompressible data.
/// </summary>
public sealed class SnappyBlockCompressorTests
{
    private readonly SnappyBlockCompressor _compressor = new();

    public static IEnumerable<object[]> Inputs()
    {
        var random = new Random(7);
        byte[] Random(int n)
        {
            var bytes = new byte[n];
            random.NextBytes(bytes);
            return bytes;
        }

        yield return ["empty", Array.Empty<byte>()];
        yield return ["one byte", new byte[] { 42 }];
        yield return ["margin-sized, repetitive", Encoding.ASCII.GetBytes("aaaaaaaaaaaaaaa")];
        yield return ["just past the margin", Encoding.ASCII.GetBytes("abcdabcdabcdabcd")];
        yield return ["random 100 B", Random(100)];
        yield return ["random 100 KiB (incompressible, two fragments)", Random(100 * 1024)];
        yield return ["zeros 1 MiB (long copies, many fragments)", new byte[1024 * 1024]];
        yield return ["exactly one fragment of JSON", Json(65536)];
        yield return ["one fragment plus one byte", Json(65537)];
        yield return ["JSON lines 300 KiB", Json(300 * 1024)];
        yield return ["a 70-byte period (copy-1 and copy-2 offsets)", Period(70, 5000)];
        yield return ["a 3,000-byte period (offsets past 2,047)", Period(3000, 20000)];
        yield return ["random runs of random lengths", Runs(random)];
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Snappier_decodes_what_it_writes(string name, byte[] input)
    {
        byte[] compressed = Compress(input);

        Assert.True(compressed.Length <= SnappyBlockCompressor.GetMaxCompressedLength(input.Length), name);
        Assert.Equal(input.Length, Snappy.GetUncompressedLength(compressed));
        Assert.Equal(input, Snappy.DecompressToArray(compressed));
    }

    [Fact]
    public void Every_length_up_to_600_round_trips_for_repetitive_and_random_input()
    {
        byte[] json = Json(600);
        var random = new Random(11);
        var noise = new byte[600];
        random.NextBytes(noise);

        for (int n = 0; n <= 600; n++)
        {
            Assert.Equal(json.AsSpan(0, n).ToArray(), Snappy.DecompressToArray(Compress(json.AsSpan(0, n).ToArray())));
            Assert.Equal(noise.AsSpan(0, n).ToArray(), Snappy.DecompressToArray(Compress(noise.AsSpan(0, n).ToArray())));
        }
    }

    [Fact]
    public void A_short_input_is_the_length_then_one_literal()
    {
        // Format check independent of the search: varint 5, literal tag (5 - 1) << 2, the bytes.
        Assert.Equal(new byte[] { 5, 4 << 2, (byte)'H', (byte)'e', (byte)'l', (byte)'l', (byte)'o' }, Compress(Encoding.ASCII.GetBytes("Hello")));
    }

    [Fact]
    public void A_long_literal_carries_its_length_in_extra_bytes()
    {
        // 15 random bytes never match, so 200 bytes of noise are one literal: tag 60 << 2 then (200 - 1) in one byte.
        var noise = new byte[200];
        new Random(3).NextBytes(noise);
        byte[] compressed = Compress(noise);

        Assert.Equal(new byte[] { 0xC8, 0x01, 60 << 2, 199 }, compressed.Take(4));
        Assert.Equal(noise, compressed.Skip(4));
    }

    [Fact]
    public void Loki_like_bodies_shrink_several_fold()
    {
        byte[] body = Json(64 * 1024);

        byte[] compressed = Compress(body);

        Assert.True(compressed.Length * 4 < body.Length, $"{body.Length} bytes compressed to {compressed.Length}");
        Assert.Equal(body, Snappy.DecompressToArray(compressed));
    }

    [Fact]
    public void The_hash_table_is_reset_between_inputs()
    {
        // The second input shares nothing with the first; stale positions from the first must not become copies.
        byte[] first = Json(40_000);
        byte[] second = Period(97, 40_000);

        Compress(first);
        Assert.Equal(second, Snappy.DecompressToArray(Compress(second)));
        Assert.Equal(first, Snappy.DecompressToArray(Compress(first)));
    }

    [Fact]
    public void A_destination_below_the_bound_is_rejected_with_both_sizes()
    {
        var input = new byte[1000];
        var output = new byte[SnappyBlockCompressor.GetMaxCompressedLength(1000) - 1];

        ArgumentException error = Assert.Throws<ArgumentException>(() => _compressor.Compress(input, output));

        Assert.Contains("1197 bytes", error.Message);
        Assert.Contains("1198", error.Message);
    }

    private byte[] Compress(byte[] input)
    {
        var output = new byte[SnappyBlockCompressor.GetMaxCompressedLength(input.Length)];
        int written = _compressor.Compress(input, output);
        return output.AsSpan(0, written).ToArray();
    }

    private static byte[] Json(int length)
    {
        var text = new StringBuilder();
        for (int i = 0; text.Length < length; i++)
        {
            text.Append("{\"level\":\"info\",\"msg\":\"Order ").Append(i * 7919 % 100_000).Append(" placed by customer-")
                .Append(i % 37).Append("\",\"OrderId\":").Append(i).Append(",\"Amount\":").Append(i * 0.25).Append("}\n");
        }

        return Encoding.ASCII.GetBytes(text.ToString(0, length));
    }

    private static byte[] Period(int period, int length)
    {
        var pattern = new byte[period];
        new Random(period).NextBytes(pattern);
        return Enumerable.Range(0, length).Select(i => pattern[i % period]).ToArray();
    }

    private static byte[] Runs(Random random)
    {
        var bytes = new List<byte>();
        while (bytes.Count < 200_000)
        {
            int run = random.Next(1, 300);
            if (random.Next(2) == 0)
            {
                bytes.AddRange(Enumerable.Repeat((byte)random.Next(256), run));
            }
            else if (bytes.Count > 0)
            {
                // Repeat an earlier stretch, at any distance the format allows within a fragment.
                int from = random.Next(Math.Max(0, bytes.Count - 70_000), bytes.Count);
                for (int i = 0; i < run; i++)
                {
                    bytes.Add(bytes[from + (i % (bytes.Count - from))]);
                }
            }
        }

        return bytes.ToArray();
    }
}
