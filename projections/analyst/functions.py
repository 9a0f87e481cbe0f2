"""The ClickHouse functions analyst SQL may call, by name: an allowlist, reviewed by hand.

Long because it is data: some 1,300 names, one review; split, the list could not be read whole.

ClickHouse has some 1,900 functions and adds more every release; some read outside the
query's tables (``dictGet``, ``joinGet``, ``file``, ``hasColumnInTable``, the AI functions that
call out to a model), describe the server (``currentUser``, ``hostName``, ``getSetting``,
``version``) or take a table by name (``in``, ``globalIn``). A denylist would let the next
such function through; here a name runs only if a person put it in this file.

The names were taken from ``system.functions`` of chDB 4.4 (ClickHouse 26.9) by category
(data types, dates, strings, arrays, maps, JSON, maths, hashes, aggregates, ...), leaving out
the categories Dictionary, Embedded Dictionary, Introspection, Internal, AI, Machine Learning,
Encryption, Geo, Time Series, NumericIndexedVector and QBit, and the IN-family functions; from
the grab-bag category Other only the pure value functions below were kept. Aliases are kept
where what they stand for is kept. ``tests/integration/test_analyst_sql.py`` checks every
name against the engine, so a typo or a function moved to a refused category fails there.
"""

from __future__ import annotations

from collections.abc import Iterable

_CATEGORIES = {
    "Aggregate Functions": """
        analysisOfVariance any any_respect_nulls anyHeavy anyLast anyLast_respect_nulls
        approx_top_k approx_top_sum argAndMax argAndMin argMax argMin avg avgWeighted
        boundingRatio categoricalInformationValue contingency corr corrMatrix corrStable count
        covarPop covarPopMatrix covarPopStable covarSamp covarSampMatrix covarSampStable
        cramersV cramersVBiasCorrected cume_dist deltaSum deltaSumTimestamp denseRank
        distinctDynamicTypes distinctJSONPaths distinctJSONPathsAndTypes entropy
        estimateCompressionRatio exponentialMovingAverage exponentialTimeDecayedAvg
        exponentialTimeDecayedCount exponentialTimeDecayedMax exponentialTimeDecayedSum gini
        groupArray groupArrayInsertAt groupArrayIntersect groupArrayLast groupArrayMovingAvg
        groupArrayMovingSum groupArraySample groupArraySorted groupBitAnd groupBitmap
        groupBitmapAnd groupBitmapOr groupBitmapXor groupBitOr groupBitXor groupConcat
        groupFormat groupNumericIndexedVector groupUniqArray histogram intervalLengthSum
        kolmogorovSmirnovTest kurtPop kurtSamp lag lagInFrame largestTriangleThreeBuckets lead
        leadInFrame mannWhitneyUTest max maxIntersections maxIntersectionsPosition
        maxMappedArrays meanZTest mergedJSONPatch min minMappedArrays nonNegativeDerivative
        nth_value ntile percentRank quantile quantileBFloat16 quantileBFloat16Weighted
        quantileDD quantileDeterministic quantileExact quantileExactExclusive quantileExactHigh
        quantileExactInclusive quantileExactLow quantileExactWeighted
        quantileExactWeightedInterpolated quantileGK quantileInterpolatedWeighted
        quantilePrometheusHistogram quantiles quantilesBFloat16 quantilesBFloat16Weighted
        quantilesDD quantilesDeterministic quantilesExact quantilesExactExclusive
        quantilesExactHigh quantilesExactInclusive quantilesExactLow quantilesExactWeighted
        quantilesExactWeightedInterpolated quantilesGK quantilesInterpolatedWeighted
        quantilesPrometheusHistogram quantilesTDigest quantilesTDigestWeighted quantilesTiming
        quantilesTimingWeighted quantileTDigest quantileTDigestWeighted quantileTiming
        quantileTimingWeighted rank rankCorr regr_avgx regr_avgy regr_count regr_intercept
        regr_r2 regr_slope regr_sxx regr_sxy regr_syy retention row_number sequenceCount
        sequenceMatch sequenceMatchEvents sequenceNextNode simpleLinearRegression
        singleValueOrNull skewPop skewSamp sparkbar stddevPop stddevPopStable stddevSamp
        stddevSampStable studentTTest studentTTestOneSample sum sumCount sumKahan sumMapFiltered
        sumMapFilteredWithOverflow sumMappedArrays sumMapWithOverflow sumWithOverflow theilsU
        topK topKWeighted uniq uniqCombined uniqCombined64 uniqExact uniqHLL12 uniqUpTo varPop
        varPopStable varSamp varSampStable welchTTest windowFunnel
    """,
    "Arithmetic": """
        abs avg2 byteSwap divide divideDecimal divideOrNull gcd ifNotFinite intDiv intDivOrNull
        intDivOrZero isFinite isInfinite isNaN kqlBin kqlBinAt kqlDateTimeBinAt kqlDivide
        kqlMultiply kqlRangeCount lcm max2 midpoint min2 minus modulo moduloLegacy moduloOrNull
        moduloOrZero multiply multiplyDecimal negate plus positiveModulo positiveModuloOrNull
        sqr
    """,
    "Arrays": """
        array arrayAll arrayAUCPR arrayAutocorrelation arrayAvg arrayBottomK arrayCompact
        arrayConcat arrayCount arrayCumSum arrayCumSumNonNegative arrayDifference arrayDistinct
        arrayDotProduct arrayElement arrayElementOrNull arrayEnumerate arrayEnumerateDense
        arrayEnumerateDenseRanked arrayEnumerateUniq arrayEnumerateUniqRanked arrayExcept
        arrayExists arrayFill arrayFilter arrayFirst arrayFirstIndex arrayFirstOrNull
        arrayFlatten arrayFlattenedLength arrayFold arrayIntersect arrayJaccardIndex arrayJoin
        arrayLast arrayLastIndex arrayLastOrNull arrayLevenshteinDistance
        arrayLevenshteinDistanceWeighted arrayMap arrayMax arrayMin arrayNormalizedGini
        arrayPartialReverseSort arrayPartialShuffle arrayPartialSort arrayPopBack arrayPopFront
        arrayProduct arrayPushBack arrayPushFront arrayRandomSample arrayReduce
        arrayReduceInRanges arrayRemove arrayResize arrayReverse arrayReverseFill
        arrayReverseSort arrayReverseSplit arrayROCAUC arrayRotateLeft arrayRotateRight
        arrayShiftLeft arrayShiftRight arrayShingles arrayShuffle arraySimilarity arraySlice
        arraySort arraySplit arraySum arraySymmetricDifference arrayTopK arrayTranspose
        arrayUnion arrayUniq arrayWithConstant arrayZip arrayZipUnaligned countEqual empty
        emptyArrayDate emptyArrayDateTime emptyArrayFloat32 emptyArrayFloat64 emptyArrayInt16
        emptyArrayInt32 emptyArrayInt64 emptyArrayInt8 emptyArrayString emptyArrayToSingle
        emptyArrayUInt16 emptyArrayUInt32 emptyArrayUInt64 emptyArrayUInt8 has hasAll hasAny
        hasSubstr indexOf indexOfAssumeSorted length notEmpty notHas randomHadamardTransform
        range replicate reverse
    """,
    "Bit": """
        bitAnd bitCount bitHammingDistance bitNot bitOr bitRotateLeft bitRotateRight
        bitShiftLeft bitShiftRight bitSlice bitTest bitTestAll bitTestAny bitXor
    """,
    "Bitmap": """
        bitmapAnd bitmapAndCardinality bitmapAndnot bitmapAndnotCardinality bitmapBuild
        bitmapCardinality bitmapContains bitmapHasAll bitmapHasAny bitmapMax bitmapMin bitmapOr
        bitmapOrCardinality bitmapSubsetInRange bitmapSubsetLimit bitmapToArray bitmapTransform
        bitmapXor bitmapXorCardinality subBitmap
    """,
    "Comparison": """
        equals greater greaterOrEquals isDistinctFrom isNotDistinctFrom less lessOrEquals
        notEquals
    """,
    "Conditional": """
        clamp greatest if least multiIf
    """,
    "Dates and Times": """
        addDate addDays addHours addInterval addMicroseconds addMilliseconds addMinutes
        addMonths addNanoseconds addQuarters addSeconds addTupleOfIntervals addWeeks addYears
        age changeDay changeHour changeMinute changeMonth changeSecond changeYear dateDiff
        dateName dateTrunc formatDateTime formatDateTimeInJodaSyntax fromDaysSinceYearZero
        fromDaysSinceYearZero32 fromModifiedJulianDay fromModifiedJulianDayOrNull
        fromUnixTimestamp fromUnixTimestampInJodaSyntax fromUTCTimestamp localtime makeDate
        makeDate32 makeDateTime makeDateTime64 monthName now now64 nowInBlock nowInBlock64
        serverTimezone subDate subtractDays subtractHours subtractInterval subtractMicroseconds
        subtractMilliseconds subtractMinutes subtractMonths subtractNanoseconds subtractQuarters
        subtractSeconds subtractTupleOfIntervals subtractWeeks subtractYears timeDiff timeSlot
        timeSlots timestamp timezone timezoneOf timezoneOffset today toDayOfMonth toDayOfWeek
        toDayOfYear toDaysInMonth toDaysSinceYearZero toHour toISOWeek toISOYear
        toLastDayOfMonth toLastDayOfWeek toMicrosecond toMillisecond toMinute
        toModifiedJulianDay toModifiedJulianDayOrNull toMonday toMonth toMonthNumSinceEpoch
        toNanosecond toQuarter toRelativeDayNum toRelativeHourNum toRelativeMinuteNum
        toRelativeMonthNum toRelativeQuarterNum toRelativeSecondNum toRelativeWeekNum
        toRelativeYearNum toSecond toStartOfDay toStartOfFifteenMinutes toStartOfFiveMinutes
        toStartOfHour toStartOfInterval toStartOfISOYear toStartOfMicrosecond
        toStartOfMillisecond toStartOfMinute toStartOfMonth toStartOfNanosecond toStartOfQuarter
        toStartOfSecond toStartOfTenMinutes toStartOfWeek toStartOfYear toTimeWithFixedDate
        toTimezone toUnixTimestamp toUTCTimestamp toWeek toYear toYearNumSinceEpoch toYearWeek
        toYYYYMM toYYYYMMDD toYYYYMMDDhhmmss UTCTimestamp yesterday YYYYMMDDhhmmssToDateTime
        YYYYMMDDhhmmssToDateTime64 YYYYMMDDToDate YYYYMMDDToDate32
    """,
    "Distance": """
        cosineDistance cosineDistanceTransposed cosineDistanceTransposedQuantized
        dotProductTransposed dotProductTransposedQuantized L1Distance L1Norm L1Normalize
        L2Distance L2DistanceTransposed L2DistanceTransposedQuantized L2Norm L2Normalize
        L2SquaredDistance L2SquaredNorm LinfDistance LinfNorm LinfNormalize LpDistance LpNorm
        LpNormalize
    """,
    "Encoding": """
        bin bitmaskToArray bitmaskToList bitPositionsToArray char hex hilbertDecode
        hilbertEncode mortonDecode mortonEncode sqidDecode sqidEncode unbin unhex
    """,
    "Financial": """
        financialInternalRateOfReturn financialInternalRateOfReturnExtended
        financialNetPresentValue financialNetPresentValueExtended
    """,
    "Hash": """
        cityHash64 farmFingerprint64 farmHash64 gccMurmurHash halfMD5 hiveHash icebergHash
        intHash32 intHash64 javaHash javaHashUTF16LE jumpConsistentHash kafkaMurmurHash
        keccak256 kostikConsistentHash MD4 MD5 metroHash64 murmurHash2_32 murmurHash2_64
        murmurHash3_128 murmurHash3_32 murmurHash3_64 ngramMinHash ngramMinHashArg
        ngramMinHashArgCaseInsensitive ngramMinHashArgCaseInsensitiveUTF8 ngramMinHashArgUTF8
        ngramMinHashCaseInsensitive ngramMinHashCaseInsensitiveUTF8 ngramMinHashUTF8
        ngramSimHash ngramSimHashCaseInsensitive ngramSimHashCaseInsensitiveUTF8
        ngramSimHashUTF8 RIPEMD160 SHA1 SHA224 SHA256 SHA384 SHA512 SHA512_256 sipHash128
        sipHash128Keyed sipHash128Reference sipHash128ReferenceKeyed sipHash64 sipHash64Keyed
        URLHash wordShingleMinHash wordShingleMinHashArg wordShingleMinHashArgCaseInsensitive
        wordShingleMinHashArgCaseInsensitiveUTF8 wordShingleMinHashArgUTF8
        wordShingleMinHashCaseInsensitive wordShingleMinHashCaseInsensitiveUTF8
        wordShingleMinHashUTF8 wordShingleSimHash wordShingleSimHashCaseInsensitive
        wordShingleSimHashCaseInsensitiveUTF8 wordShingleSimHashUTF8 wyHash64 xxh3 xxh3_128
        xxHash32 xxHash64 xxHash64Spark
    """,
    "IP Address": """
        cutIPv6 IPv4CIDRToRange IPv4NumToString IPv4NumToStringClassC IPv4StringToNum
        IPv4StringToNumOrDefault IPv4StringToNumOrNull IPv4ToIPv6 IPv6CIDRToRange
        IPv6NumToString IPv6StringToNum IPv6StringToNumOrDefault IPv6StringToNumOrNull
        isIPAddressInRange isIPv4String isIPv6String toIPv4 toIPv4OrDefault toIPv4OrNull
        toIPv4OrZero toIPv6 toIPv6OrDefault toIPv6OrNull toIPv6OrZero
    """,
    "JSON": """
        dynamicElement dynamicType isDynamicElementInSharedData isValidJSON JSON_EXISTS
        JSON_QUERY JSON_VALUE JSONAllPaths JSONAllPathsWithTypes JSONAllValues JSONArrayLength
        JSONDynamicPaths JSONDynamicPathsWithTypes JSONExtract JSONExtractArrayRaw
        JSONExtractArrayRawCaseInsensitive JSONExtractBool JSONExtractBoolCaseInsensitive
        JSONExtractCaseInsensitive JSONExtractFloat JSONExtractFloatCaseInsensitive
        JSONExtractInt JSONExtractIntCaseInsensitive JSONExtractKeys JSONExtractKeysAndValues
        JSONExtractKeysAndValuesCaseInsensitive JSONExtractKeysAndValuesRaw
        JSONExtractKeysAndValuesRawCaseInsensitive JSONExtractKeysCaseInsensitive JSONExtractRaw
        JSONExtractRawCaseInsensitive JSONExtractString JSONExtractStringCaseInsensitive
        JSONExtractUInt JSONExtractUIntCaseInsensitive JSONHas JSONKey JSONLength JSONMergePatch
        JSONSharedDataPaths JSONSharedDataPathsWithTypes JSONType prettyPrintJSON
        simpleJSONExtractBool simpleJSONExtractFloat simpleJSONExtractInt simpleJSONExtractRaw
        simpleJSONExtractString simpleJSONExtractUInt simpleJSONHas toJSONString
    """,
    "Logical": """
        and not or xor
    """,
    "Map": """
        extractKeyValuePairs extractKeyValuePairsWithEscaping map mapAdd mapAll mapApply
        mapConcat mapContainsKey mapContainsKeyLike mapContainsValue mapContainsValueLike
        mapExists mapExtractKeyLike mapExtractValueLike mapFilter mapFromArrays mapKeys
        mapPartialReverseSort mapPartialSort mapPopulateSeries mapReverseSort mapSort
        mapSubtract mapUpdate mapValues
    """,
    "Mathematical": """
        acos acosh asin asinh atan atan2 atanh cbrt cos cosh degrees e erf erfc exp exp10 exp2
        factorial hypot intExp10 intExp2 isPrime isProbablePrime lgamma log log10 log1p log2 pi
        pow proportionsZTest radians sigmoid sign sin sinh sqrt tan tanh tgamma widthBucket
    """,
    "Null": """
        assumeNotNull coalesce firstNonDefault ifNull isNotNull isNull isNullable isZeroOrNull
        nullIf toNullable
    """,
    "Other": """
        bar byteSize countDigits defaultValueOfArgumentType defaultValueOfTypeName
        finalizeAggregation formatReadableDecimalSize formatReadableQuantity formatReadableSize
        formatReadableTimeDelta getSizeOfEnumType getSubcolumn identity ignore
        initializeAggregation isConstant isDecimalOverflow MACNumToString MACStringToNum
        MACStringToOUI materialize minSampleSizeContinuous minSampleSizeConversion neighbor
        parseISO8601Duration parseReadableSize parseReadableSizeOrNull parseReadableSizeOrZero
        parseTimeDelta runningAccumulate runningDifference
        runningDifferenceStartingWithFirstValue toColumnTypeName toTypeName transform
        variantElement variantType visibleWidth
    """,
    "Random Number": """
        fuzzBits rand rand64 randBernoulli randBinomial randCanonical randChiSquared
        randConstant randExponential randFisherF randLogNormal randNegativeBinomial randNormal
        randomFixedString randomPrintableASCII randomString randomStringUTF8 randPoisson
        randStudentT randUniform
    """,
    "Rounding": """
        ceil floor round roundAge roundBankers roundDown roundDuration roundToExp2 trunc
    """,
    "String": """
        appendTrailingCharIfAbsent ascii base32Decode base32Encode base58Decode base58Encode
        base64Decode base64Encode base64URLDecode base64URLEncode basename byteHammingDistance
        caseFoldUTF8 compareSubstrings concat concatAssumeInjective concatWithSeparator
        concatWithSeparatorAssumeInjective conv convertCharset CRC32 CRC32IEEE CRC64
        damerauLevenshteinDistance decodeHTMLComponent decodeXMLComponent editDistance
        editDistanceUTF8 encodeXMLComponent endsWith endsWithCaseInsensitive
        endsWithCaseInsensitiveUTF8 endsWithUTF8 extractTextFromHTML firstLine initcap
        initcapUTF8 isValidASCII isValidUTF8 jaroSimilarity jaroWinklerSimilarity left leftPad
        leftPadUTF8 leftUTF8 lengthUTF8 lower lowerUTF8 naturalSortKey normalizeUTF8NFC
        normalizeUTF8NFD normalizeUTF8NFKC normalizeUTF8NFKCCasefold normalizeUTF8NFKD
        regexpExtract regexpPosition removeDiacriticsUTF8 repeat reverseUTF8 right rightPad
        rightPadUTF8 rightUTF8 soundex space sparseGrams sparseGramsHashes sparseGramsHashesUTF8
        sparseGramsUTF8 startsWith startsWithCaseInsensitive startsWithCaseInsensitiveUTF8
        startsWithUTF8 stringBytesEntropy stringBytesUniq stringJaccardIndex
        stringJaccardIndexUTF8 substring substringIndex substringIndexUTF8 substringUTF8
        toValidUTF8 trimBoth trimLeft trimRight tryBase32Decode tryBase58Decode tryBase64Decode
        tryBase64URLDecode upper upperUTF8
    """,
    "String Replacement": """
        format overlay overlayUTF8 printf regexpQuoteMeta replaceAll replaceOne replaceRegexpAll
        replaceRegexpOne translate translateUTF8
    """,
    "String Search": """
        countMatches countMatchesCaseInsensitive countSubstrings countSubstringsCaseInsensitive
        countSubstringsCaseInsensitiveUTF8 extract extractAll extractAllGroupsHorizontal
        extractGroups hasAllTokens hasAnyTokens hasPhrase hasSubsequence
        hasSubsequenceCaseInsensitive hasSubsequenceCaseInsensitiveUTF8 hasSubsequenceUTF8
        hasToken hasTokenCaseInsensitive hasTokenCaseInsensitiveOrNull hasTokenOrNull highlight
        ilike like locate match matchCaseInsensitive multiFuzzyMatchAllIndices
        multiFuzzyMatchAny multiFuzzyMatchAnyIndex multiMatchAllIndices multiMatchAny
        multiMatchAnyIndex multiSearchAllPositions multiSearchAllPositionsCaseInsensitive
        multiSearchAllPositionsCaseInsensitiveUTF8 multiSearchAllPositionsUTF8 multiSearchAny
        multiSearchAnyCaseInsensitive multiSearchAnyCaseInsensitiveUTF8 multiSearchAnyUTF8
        multiSearchFirstIndex multiSearchFirstIndexCaseInsensitive
        multiSearchFirstIndexCaseInsensitiveUTF8 multiSearchFirstIndexUTF8
        multiSearchFirstPosition multiSearchFirstPositionCaseInsensitive
        multiSearchFirstPositionCaseInsensitiveUTF8 multiSearchFirstPositionUTF8 ngramDistance
        ngramDistanceCaseInsensitive ngramDistanceCaseInsensitiveUTF8 ngramDistanceUTF8
        ngramSearch ngramSearchCaseInsensitive ngramSearchCaseInsensitiveUTF8 ngramSearchUTF8
        notILike notLike notMatch notMatchCaseInsensitive position positionCaseInsensitive
        positionCaseInsensitiveUTF8 positionUTF8
    """,
    "String Splitting": """
        alphaTokens arrayStringConcat extractAllGroupsVertical naiveBayesNgrams ngrams
        reverseBySeparator splitByChar splitByNonAlpha splitByRegexp splitByString
        splitByWhitespace tokens tokensForLikePattern
    """,
    "Time Window": """
        hop hopEnd hopStart tumble tumbleEnd tumbleStart
    """,
    "Tuple": """
        dotProduct flattenTuple tuple tupleConcat tupleDivide tupleDivideByNumber tupleElement
        tupleHammingDistance tupleIntDiv tupleIntDivByNumber tupleIntDivOrZero
        tupleIntDivOrZeroByNumber tupleMinus tupleModulo tupleModuloByNumber tupleMultiply
        tupleMultiplyByNumber tupleNames tupleNegate tuplePlus tuplePositiveModuloByNumber
        tupleToNameValuePairs
    """,
    "Type Conversion": """
        accurateCast accurateCastOrDefault accurateCastOrNull CAST DATE formatRow
        formatRowNoNewline fromUnixTimestamp64Micro fromUnixTimestamp64Milli
        fromUnixTimestamp64Nano fromUnixTimestamp64Second kqlToTimespan parseDateTime
        parseDateTime32BestEffort parseDateTime32BestEffortOrNull
        parseDateTime32BestEffortOrZero parseDateTime64 parseDateTime64BestEffort
        parseDateTime64BestEffortOrNull parseDateTime64BestEffortOrZero
        parseDateTime64BestEffortUS parseDateTime64BestEffortUSOrNull
        parseDateTime64BestEffortUSOrZero parseDateTime64InJodaSyntax
        parseDateTime64InJodaSyntaxOrNull parseDateTime64InJodaSyntaxOrZero
        parseDateTime64OrNull parseDateTime64OrZero parseDateTimeBestEffort
        parseDateTimeBestEffortOrNull parseDateTimeBestEffortOrZero parseDateTimeBestEffortUS
        parseDateTimeBestEffortUSOrNull parseDateTimeBestEffortUSOrZero
        parseDateTimeInJodaSyntax parseDateTimeInJodaSyntaxOrNull
        parseDateTimeInJodaSyntaxOrZero parseDateTimeOrNull parseDateTimeOrZero reinterpret
        reinterpretAsDate reinterpretAsDateTime reinterpretAsFixedString reinterpretAsFloat32
        reinterpretAsFloat64 reinterpretAsInt128 reinterpretAsInt16 reinterpretAsInt256
        reinterpretAsInt32 reinterpretAsInt64 reinterpretAsInt8 reinterpretAsString
        reinterpretAsUInt128 reinterpretAsUInt16 reinterpretAsUInt256 reinterpretAsUInt32
        reinterpretAsUInt64 reinterpretAsUInt8 reinterpretAsUUID toBFloat16 toBFloat16OrNull
        toBFloat16OrZero toBool toDate toDate32 toDate32OrDefault toDate32OrNull toDate32OrZero
        toDateOrDefault toDateOrNull toDateOrZero toDateTime toDateTime32 toDateTime64
        toDateTime64OrDefault toDateTime64OrNull toDateTime64OrZero toDateTimeOrDefault
        toDateTimeOrNull toDateTimeOrZero toDecimal128 toDecimal128OrDefault toDecimal128OrNull
        toDecimal128OrZero toDecimal256 toDecimal256OrDefault toDecimal256OrNull
        toDecimal256OrZero toDecimal32 toDecimal32OrDefault toDecimal32OrNull toDecimal32OrZero
        toDecimal64 toDecimal64OrDefault toDecimal64OrNull toDecimal64OrZero toDecimalString
        toFixedString toFloat32 toFloat32OrDefault toFloat32OrNull toFloat32OrZero toFloat64
        toFloat64OrDefault toFloat64OrNull toFloat64OrZero toInt128 toInt128OrDefault
        toInt128OrNull toInt128OrZero toInt16 toInt16OrDefault toInt16OrNull toInt16OrZero
        toInt256 toInt256OrDefault toInt256OrNull toInt256OrZero toInt32 toInt32OrDefault
        toInt32OrNull toInt32OrZero toInt64 toInt64OrDefault toInt64OrNull toInt64OrZero toInt8
        toInt8OrDefault toInt8OrNull toInt8OrZero toInterval toIntervalDay toIntervalHour
        toIntervalMicrosecond toIntervalMillisecond toIntervalMinute toIntervalMonth
        toIntervalNanosecond toIntervalQuarter toIntervalSecond toIntervalWeek toIntervalYear
        toLowCardinality toString toStringCutToZero toTime toTime64 toTime64OrNull
        toTime64OrZero toTimeOrNull toTimeOrZero toUInt128 toUInt128OrDefault toUInt128OrNull
        toUInt128OrZero toUInt16 toUInt16OrDefault toUInt16OrNull toUInt16OrZero toUInt256
        toUInt256OrDefault toUInt256OrNull toUInt256OrZero toUInt32 toUInt32OrDefault
        toUInt32OrNull toUInt32OrZero toUInt64 toUInt64OrDefault toUInt64OrNull toUInt64OrZero
        toUInt8 toUInt8OrDefault toUInt8OrNull toUInt8OrZero toUnixTimestamp64Micro
        toUnixTimestamp64Milli toUnixTimestamp64Nano toUnixTimestamp64Second toUUID toUUIDOrZero
    """,
    "URL": """
        cutFragment cutQueryString cutQueryStringAndFragment cutToFirstSignificantSubdomain
        cutToFirstSignificantSubdomainCustom cutToFirstSignificantSubdomainCustomRFC
        cutToFirstSignificantSubdomainCustomWithWWW
        cutToFirstSignificantSubdomainCustomWithWWWRFC cutToFirstSignificantSubdomainRFC
        cutToFirstSignificantSubdomainWithWWW cutToFirstSignificantSubdomainWithWWWRFC
        cutURLParameter cutWWW decodeURLComponent decodeURLFormComponent domain domainRFC
        domainWithoutWWW domainWithoutWWWRFC encodeURLComponent encodeURLFormComponent
        extractURLParameter extractURLParameterNames extractURLParameters
        firstSignificantSubdomain firstSignificantSubdomainCustom
        firstSignificantSubdomainCustomRFC firstSignificantSubdomainRFC fragment netloc path
        pathFull port portRFC protocol queryString queryStringAndFragment topLevelDomain
        topLevelDomainRFC URLHierarchy URLPathHierarchy
    """,
    "UUID": """
        dateTime64ToSnowflakeID dateTimeToSnowflakeID dateTimeToUUIDv7 generateSnowflakeID
        generateUUIDv4 generateUUIDv7 snowflakeIDToDateTime snowflakeIDToDateTime64
        toUUIDOrDefault toUUIDOrNull UUIDNumToString UUIDStringToNum UUIDToNum UUIDv7ToDateTime
    """,
}

# Other names for the functions above (``median`` for ``quantile``, ``substr`` for ``substring``).
_ALIASES = """
    anova any_value any_value_respect_nulls anyLastRespectNulls anyRespectNulls
    anyValueRespectNulls approx_top_count array_agg array_remove array_to_string arrayAUC
    arrayPRAUC BIT_AND BIT_OR BIT_XOR byteSlice CARDINALITY caseWithoutExpr
    caseWithoutExpression ceiling CHAR_LENGTH CHARACTER_LENGTH concat_ws COVAR_POP
    COVAR_SAMP curdate current_date current_timestamp date_bin DATE_DIFF date_diff
    DATE_FORMAT DATE_TRUNC DAY DAYOFMONTH DAYOFWEEK DAYOFYEAR dense_rank distanceCosine
    distanceCosineTransposed distanceL1 distanceL2 distanceL2Squared distanceL2Transposed
    distanceLinf distanceLp extractAllGroups first_value first_value_respect_nulls
    firstValueRespectNulls flatten FORMAT_BYTES FROM_BASE64 FROM_DAYS FROM_UNIXTIME
    from_utc_timestamp group_concat hasAllToken hasAnyToken HOUR INET6_ATON INET6_NTOA
    INET_ATON INET_NTOA instr isASCII JSON_ARRAY_LENGTH jsonMergePatch LAST_DAY last_value
    last_value_respect_nulls lastValueRespectNulls lcase levenshteinDistance
    levenshteinDistanceUTF8 ln localtimestamp lpad ltrim lttb MAP_FROM_ARRAYS mapContains
    mapFromString matchPhrase max_by median medianBFloat16 medianBFloat16Weighted medianDD
    medianDeterministic medianExact medianExactHigh medianExactLow medianExactWeighted
    medianExactWeightedInterpolated medianGK medianInterpolatedWeighted medianTDigest
    medianTDigestWeighted medianTiming medianTimingWeighted MICROSECOND mid MILLISECOND
    min_by minSampleSizeContinous MINUTE mismatches mod modOrNull MONTH NANOSECOND
    NATURAL_SORT_KEY normalizeL1 normalizeL2 normalizeLinf normalizeLp normL1 normL2
    normL2Squared normLinf normLp OCTET_LENGTH percent_rank pmod pmodOrNull positive_modulo
    positive_modulo_or_null power QUARTER rand32 REGEXP_EXTRACT regexp_instr REGEXP_MATCHES
    REGEXP_REPLACE REGEXP_SUBSTR regexpInstr removeAccentsUTF8 replace rpad rtrim
    scalarProduct scalarProductTransposed SECOND serverTimeZone sparkBar splitByAlpha sqid
    STD STDDEV STDDEV_POP STDDEV_SAMP str_to_date str_to_map string_agg substr
    SUBSTRING_INDEX time_bucket TIMESTAMP_DIFF timestamp_diff timestampDiff timeZone
    timeZoneOf timeZoneOffset TO_BASE64 TO_DAYS TO_UNIXTIME to_utc_timestamp
    toStartOfFiveMinute toTimeZone trim truncate ucase unnest UTC_timestamp VAR_POP VAR_SAMP
    vectorDifference vectorSum visitParamExtractBool visitParamExtractFloat
    visitParamExtractInt visitParamExtractRaw visitParamExtractString visitParamExtractUInt
    visitParamHas week width_bucket yandexConsistentHash YEAR yearweek
"""

# The allowed functions that are aggregates: only they take combinators (``sumIf``, ``uniqExactMerge``).
_AGGREGATES = """
    analysisOfVariance anova any any_respect_nulls any_value any_value_respect_nulls
    anyHeavy anyLast anyLast_respect_nulls anyLastRespectNulls anyRespectNulls
    anyValueRespectNulls approx_top_count approx_top_k approx_top_sum argAndMax argAndMin
    argMax argMin array_agg avg avgWeighted BIT_AND BIT_OR BIT_XOR boundingRatio
    categoricalInformationValue contingency corr corrMatrix corrStable count COVAR_POP
    COVAR_SAMP covarPop covarPopMatrix covarPopStable covarSamp covarSampMatrix
    covarSampStable cramersV cramersVBiasCorrected cume_dist deltaSum deltaSumTimestamp
    dense_rank denseRank distinctDynamicTypes distinctJSONPaths distinctJSONPathsAndTypes
    entropy estimateCompressionRatio exponentialMovingAverage exponentialTimeDecayedAvg
    exponentialTimeDecayedCount exponentialTimeDecayedMax exponentialTimeDecayedSum
    first_value first_value_respect_nulls firstValueRespectNulls gini group_concat
    groupArray groupArrayInsertAt groupArrayIntersect groupArrayLast groupArrayMovingAvg
    groupArrayMovingSum groupArraySample groupArraySorted groupBitAnd groupBitmap
    groupBitmapAnd groupBitmapOr groupBitmapXor groupBitOr groupBitXor groupConcat
    groupFormat groupNumericIndexedVector groupUniqArray histogram intervalLengthSum
    kolmogorovSmirnovTest kurtPop kurtSamp lag lagInFrame largestTriangleThreeBuckets
    last_value last_value_respect_nulls lastValueRespectNulls lead leadInFrame lttb
    mannWhitneyUTest max max_by maxIntersections maxIntersectionsPosition maxMappedArrays
    meanZTest median medianBFloat16 medianBFloat16Weighted medianDD medianDeterministic
    medianExact medianExactHigh medianExactLow medianExactWeighted
    medianExactWeightedInterpolated medianGK medianInterpolatedWeighted medianTDigest
    medianTDigestWeighted medianTiming medianTimingWeighted mergedJSONPatch min min_by
    minMappedArrays nonNegativeDerivative nth_value ntile percent_rank percentRank quantile
    quantileBFloat16 quantileBFloat16Weighted quantileDD quantileDeterministic quantileExact
    quantileExactExclusive quantileExactHigh quantileExactInclusive quantileExactLow
    quantileExactWeighted quantileExactWeightedInterpolated quantileGK
    quantileInterpolatedWeighted quantilePrometheusHistogram quantiles quantilesBFloat16
    quantilesBFloat16Weighted quantilesDD quantilesDeterministic quantilesExact
    quantilesExactExclusive quantilesExactHigh quantilesExactInclusive quantilesExactLow
    quantilesExactWeighted quantilesExactWeightedInterpolated quantilesGK
    quantilesInterpolatedWeighted quantilesPrometheusHistogram quantilesTDigest
    quantilesTDigestWeighted quantilesTiming quantilesTimingWeighted quantileTDigest
    quantileTDigestWeighted quantileTiming quantileTimingWeighted rank rankCorr regr_avgx
    regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy
    retention row_number sequenceCount sequenceMatch sequenceMatchEvents sequenceNextNode
    simpleLinearRegression singleValueOrNull skewPop skewSamp sparkBar sparkbar STD STDDEV
    STDDEV_POP STDDEV_SAMP stddevPop stddevPopStable stddevSamp stddevSampStable string_agg
    studentTTest studentTTestOneSample sum sumCount sumKahan sumMapFiltered
    sumMapFilteredWithOverflow sumMappedArrays sumMapWithOverflow sumWithOverflow theilsU
    topK topKWeighted uniq uniqCombined uniqCombined64 uniqExact uniqHLL12 uniqUpTo VAR_POP
    VAR_SAMP varPop varPopStable varSamp varSampStable welchTTest windowFunnel
"""

# The allowed names ClickHouse also finds in any letter case (``COUNT``, ``Lower``).
_CASE_INSENSITIVE = """
    abs acos addDate age analysisOfVariance anova any_value any_value_respect_nulls
    approx_top_count approx_top_k approx_top_sum array_agg array_remove array_to_string
    arrayPartialShuffle arrayShuffle ascii asin atan atan2 avg avg2 bin BIT_AND BIT_OR
    BIT_XOR byteSlice byteSwap CARDINALITY CAST ceil ceiling char CHAR_LENGTH
    CHARACTER_LENGTH coalesce concat concat_ws corr cos count countSubstrings COVAR_POP
    COVAR_SAMP CRC32 CRC32IEEE CRC64 curdate current_date current_timestamp DATE date_bin
    DATE_FORMAT DATE_TRUNC dateDiff dateName DAY DAYOFMONTH DAYOFWEEK DAYOFYEAR degrees
    dense_rank distanceCosine distanceCosineTransposed distanceL1 distanceL2
    distanceL2Squared distanceL2Transposed distanceLinf distanceLp exp factorial first_value
    first_value_respect_nulls firstNonDefault flatten floor FORMAT_BYTES FROM_BASE64
    FROM_DAYS FROM_UNIXTIME from_utc_timestamp greatest group_concat hasSubsequence
    hasSubsequenceCaseInsensitive hasSubsequenceCaseInsensitiveUTF8 hasSubsequenceUTF8
    hasTokenCaseInsensitive hasTokenCaseInsensitiveOrNull hex HOUR hypot if ifNull
    INET6_ATON INET6_NTOA INET_ATON INET_NTOA initcap instr isNull JSON_ARRAY_LENGTH
    kolmogorovSmirnovTest lag LAST_DAY last_value last_value_respect_nulls lcase lead least
    left length ln localtime localtimestamp locate log log10 log2 lower lpad makeDate
    makeDate32 makeDateTime makeDateTime64 max max2 max_by MICROSECOND mid midpoint
    MILLISECOND min min2 min_by MINUTE mod modOrNull MONTH monthName NANOSECOND
    NATURAL_SORT_KEY normalizeL1 normalizeL2 normalizeLinf normalizeLp normL1 normL2
    normL2Squared normLinf normLp not now now64 nth_value ntile nullIf OCTET_LENGTH overlay
    percent_rank pi pmod pmodOrNull position positive_modulo positive_modulo_or_null
    positiveModulo positiveModuloOrNull pow power QUARTER radians rand rank REGEXP_EXTRACT
    regexp_instr REGEXP_MATCHES REGEXP_REPLACE REGEXP_SUBSTR regexpInstr regr_avgx regr_avgy
    regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy repeat replace
    reverse right round row_number rpad scalarProduct scalarProductTransposed SECOND sign
    sin soundex space sqr sqrt STD STDDEV STDDEV_POP STDDEV_SAMP str_to_date str_to_map
    string_agg subDate substr substring SUBSTRING_INDEX sum tan tanh time_bucket timeDiff
    timestamp timeZone timezone TO_BASE64 TO_DAYS TO_UNIXTIME to_utc_timestamp today
    toDecimalString trunc truncate ucase unbin unhex unnest upper UTC_timestamp UTCTimestamp
    VAR_POP VAR_SAMP vectorDifference vectorSum week width_bucket YEAR yearweek
    YYYYMMDDhhmmssToDateTime YYYYMMDDToDate YYYYMMDDToDate32
"""

COMBINATORS = (
    "SimpleState",
    "OrDefault",
    "Distinct",
    "Resample",
    "ForEach",
    "ArgMax",
    "ArgMin",
    "OrNull",
    "Tuple",
    "Merge",
    "State",
    "Array",
    "Map",
    "If",
)


def _names(blocks: Iterable[str]) -> frozenset[str]:
    return frozenset(name for block in blocks for name in block.split())


ALLOWED = _names([*_CATEGORIES.values(), _ALIASES])
AGGREGATES = _names([_AGGREGATES])
_LONGEST_NAME = 128  # bounds the combinator recursion; no real name comes close
_ANY_CASE = {name.lower(): name for name in _names([_CASE_INSENSITIVE])}


def canonical(name: str) -> str | None:
    """The allowed function ``name`` calls, or None when it is not allowed.

    An aggregate may carry combinators (``uniqExactStateIf`` is ``uniqExact`` with
    ``State`` and ``If``); each one is stripped and the base must be an allowed aggregate.
    """
    if len(name) > _LONGEST_NAME:
        return None
    if name in ALLOWED:
        return name
    if (found := _ANY_CASE.get(name.lower())) is not None:
        return found
    for suffix in COMBINATORS:
        if name.endswith(suffix) and len(name) > len(suffix):
            base = canonical(name[: -len(suffix)])
            if base is not None and base in AGGREGATES:
                return base
    return None
